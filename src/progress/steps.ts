/**
 * The state every display keeps of the build's steps: names, times, outcome and the last lines of
 * output (for the live display's tail and the error box). Times are milliseconds of the display's
 * clock.
 */

/** Lines an error box repeats, as BuildKit's. */
export const BOX_LINES = 10;

export interface LogLine {
  /** Milliseconds since the step started. */
  at: number;
  text: string;
}

export interface Step {
  id: number;
  name: string;
  started: number;
  completed?: number;
  cached: boolean;
  error?: string;
  /** Stopped because another step failed: no error of its own, no error box. */
  canceled?: boolean;
  statuses: Array<{ text: string; at: number }>;
  /** The last BOX_LINES complete lines. */
  tail: LogLine[];
  /** Output after the last newline. */
  partial: string;
}

/** How a step ended. */
export interface StepOutcome { cached?: boolean; error?: string; canceled?: boolean }

export interface StepBook {
  readonly began: number;
  readonly steps: Step[];
  now(): number;
  start(name: string): Step;
  get(id: number): Step | undefined;
  /** Adds output; returns the lines it completed. */
  append(step: Step, chunk: string): LogLine[];
  /** The partial line as a complete one, if any. */
  flush(step: Step): LogLine | undefined;
  finish(step: Step, outcome: StepOutcome): void;
  expect(count: number): void;
  /** Steps known so far: started ones and those announced by expect. */
  total(): number;
  finished(): number;
}

function remember(step: Step, line: LogLine): void {
  step.tail.push(line);
  if (step.tail.length > BOX_LINES) step.tail.shift();
}

export function makeBook(now: () => number): StepBook {
  const steps: Step[] = [];
  const began = now();
  let expected = 0;
  return {
    began, steps, now,
    start(name) {
      const step: Step = { id: steps.length + 1, name, started: now(), cached: false, statuses: [], tail: [], partial: '' };
      steps.push(step);
      return step;
    },
    get: (id) => steps[id - 1],
    append(step, chunk) {
      const pieces = (step.partial + chunk).split('\n');
      step.partial = pieces.pop() ?? '';
      const at = now() - step.started;
      const lines = pieces.map((text) => ({ at, text }));
      for (const line of lines) remember(step, line);
      return lines;
    },
    flush(step) {
      if (step.partial === '') return undefined;
      const line = { at: now() - step.started, text: step.partial };
      step.partial = '';
      remember(step, line);
      return line;
    },
    finish(step, outcome) {
      if (step.completed !== undefined) return;
      step.completed = now();
      step.cached = outcome.cached === true;
      if (outcome.error !== undefined) step.error = outcome.error;
      if (outcome.canceled) step.canceled = true;
    },
    expect(count) {
      expected = Math.max(expected, steps.length + count);
    },
    total: () => Math.max(steps.length, expected),
    finished: () => steps.filter((s) => s.completed !== undefined).length,
  };
}

export function seconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
}

/**
 * BuildKit's box under a failed build, one per failed step: its name and last lines, with times
 * from the step's start (`0.061 line 5`).
 */
export function errorBoxes(book: StepBook): string {
  let out = '';
  for (const step of book.steps) {
    // An internal step's error (an unreadable Dockerfile, say) is the final error itself.
    if (step.error === undefined || (step.name.startsWith('[internal] ') && step.tail.length === 0 && step.partial === '')) continue;
    book.flush(step);
    out += `------\n > ${step.name}:\n`;
    for (const line of step.tail) out += `${(line.at / 1000).toFixed(3)} ${line.text}\n`;
    out += '------\n';
  }
  return out;
}

/** BuildKit's list of warnings at the end of a build. */
export function warningList(warnings: readonly string[]): string {
  if (warnings.length === 0) return '';
  return `\n ${warnings.length} ${warnings.length === 1 ? 'warning' : 'warnings'} found:\n${warnings.map((w) => ` - ${w}\n`).join('')}`;
}
