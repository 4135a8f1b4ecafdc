import { isatty } from 'node:tty';
import { BuildError } from '../source/error.ts';
import { plainProgress } from './plain.ts';
import { rawjsonProgress } from './rawjson.ts';
import { ttyProgress } from './tty.ts';
import { PROGRESS_MODES, type Progress, type ProgressMode, type ProgressOptions, type ProgressOutput } from './types.ts';

export type { OutputStream, Progress, ProgressMode, ProgressOptions, ProgressOutput } from './types.ts';
export { PROGRESS_MODES } from './types.ts';
export { inStep } from './in-step.ts';
export { imageLabel, metadataLabel, pinnedName, planLabels, plannedStepCount, stepLabel } from './labels.ts';

/** `--progress`'s value, checked (buildx refuses an unknown one too). */
export function parseProgressMode(text: string): ProgressMode {
  if ((PROGRESS_MODES as readonly string[]).includes(text)) return text as ProgressMode;
  throw new BuildError(`invalid progress mode "${text}": use ${PROGRESS_MODES.join(', ')}`);
}

/**
 * Standard error, made on first write only: a quiet build writes nothing, and making the stream
 * costs a no-op build more than its whole output. isatty asks the descriptor without it.
 */
function standardError(): ProgressOutput {
  return {
    write: (text) => process.stderr.write(text),
    isTTY: isatty(2),
    get columns() { return process.stderr.columns; },
    get rows() { return process.stderr.rows; },
    on: (event, listener) => process.stderr.on(event, listener),
    off: (event, listener) => process.stderr.off(event, listener),
  };
}

/** `auto` as BuildKit resolves it: the live display on a terminal (not a dumb one), else plain. */
export function resolveMode(mode: ProgressMode, tty: boolean): Exclude<ProgressMode, 'auto'> {
  if (mode !== 'auto') return mode;
  return tty && process.env.TERM !== 'dumb' ? 'tty' : 'plain';
}

export function createProgress(mode: ProgressMode, options: ProgressOptions = {}): Progress {
  const to = options.to ?? standardError();
  const now = options.now ?? Date.now;
  switch (resolveMode(mode, to.isTTY === true)) {
    case 'tty': return ttyProgress(to, now, options.colour ?? !process.env.NO_COLOR, options.interval ?? 120);
    case 'rawjson': return rawjsonProgress(to, now);
    case 'quiet': return plainProgress(to, now, true);
    default: return plainProgress(to, now);
  }
}
