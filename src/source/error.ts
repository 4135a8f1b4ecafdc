import { formatLocation, type SourceRange } from './range.ts';

/**
 * The one error type for user mistakes (bad Dockerfile, bad flag, missing file). The CLI prints it
 * as `file:line:col message`, a code frame and a suggestion, never with a stack trace.
 */
export class BuildError extends Error {
  readonly range: SourceRange | undefined;
  readonly suggestion: string | undefined;
  /** The text of the file the range points into, for the code frame. */
  source: string | undefined;

  constructor(message: string, range?: SourceRange, options: { suggestion?: string; source?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BuildError';
    this.range = range;
    this.suggestion = options.suggestion;
    this.source = options.source;
  }
}

/**
 * Gives a BuildError raised anywhere below the CLI the text of the file its range points into,
 * for the code frame; anything else passes through unchanged. The layers below know ranges only.
 */
export function attachSource(error: unknown, file: string, source: string): unknown {
  if (error instanceof BuildError && error.source === undefined && error.range?.file === file) error.source = source;
  return error;
}

/** Lines of `source` covered by `range`, with one line of context either side, and a caret under the start. */
export function codeFrame(source: string, range: SourceRange): string {
  const lines = source.split(/\r?\n/);
  const first = Math.max(1, range.start.line - 1);
  const last = Math.min(lines.length, Math.max(range.end.line, range.start.line) + 1);
  const width = String(last).length;
  const out: string[] = [];
  for (let n = first; n <= last; n++) {
    const marked = n >= range.start.line && n <= Math.max(range.end.line, range.start.line);
    out.push(`${marked ? '>' : ' '} ${String(n).padStart(width)} | ${lines[n - 1] ?? ''}`);
    if (n === range.start.line) out.push(`  ${' '.repeat(width)} | ${' '.repeat(Math.max(0, range.start.column - 1))}^`);
  }
  return out.join('\n');
}

/** The full human message: location, message, code frame, suggestion. */
export function formatBuildError(error: BuildError): string {
  const parts: string[] = [];
  parts.push(error.range ? `${formatLocation(error.range)}: ${error.message}` : error.message);
  if (error.range && error.source !== undefined) parts.push(codeFrame(error.source, error.range));
  if (error.suggestion) parts.push(`hint: ${error.suggestion}`);
  return parts.join('\n');
}
