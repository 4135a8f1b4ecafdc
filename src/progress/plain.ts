import { errorBoxes, makeBook, warningList, type Step, type StepOutcome } from './steps.ts';
import type { Progress, ProgressOutput } from './types.ts';

/**
 * BuildKit's plain log: each step a block headed `#N name`, its output as `#N 0.231 line` (seconds
 * since the step started), closed by `#N DONE 0.2s`, `#N CACHED` or `#N ERROR: ...`. Blocks are
 * separated by a blank line; when steps run at once and another step's output comes in, the open
 * block ends with `#N ...` and is headed again when it continues.
 *
 * `quiet` is the same book with nothing printed but the error boxes.
 */
export function plainProgress(to: ProgressOutput, now: () => number, quiet = false): Progress {
  const book = makeBook(now);
  const warnings: string[] = [];
  let current: Step | undefined;
  let printed = false;
  let closed = false;
  const headed = new Set<number>();
  const write = (text: string): void => {
    if (quiet) return;
    to.write(text);
    printed = true;
  };
  // The block `step` writes into: ends the open one, heads this one again if it was interrupted.
  const switchTo = (step: Step): void => {
    if (current === step) return;
    if (current && current.completed === undefined) write(`#${current.id} ...\n`);
    if (printed) write('\n');
    if (headed.has(step.id)) write(`#${step.id} ${step.name}\n`);
    current = step;
  };
  const line = (step: Step, text: string): void => {
    switchTo(step);
    write(`#${step.id} ${text}\n`);
  };
  const logLine = (step: Step, at: number, text: string): void => line(step, `${(at / 1000).toFixed(3)} ${text}`);
  const flush = (step: Step): void => {
    const last = book.flush(step);
    if (last) logLine(step, last.at, last.text);
  };
  const finish = (id: number, outcome: StepOutcome, text: (step: Step) => string): void => {
    const step = book.get(id);
    if (!step || step.completed !== undefined) return;
    flush(step);
    book.finish(step, outcome);
    line(step, text(step));
  };
  return {
    start(name) {
      const step = book.start(name);
      switchTo(step);
      write(`#${step.id} ${name}\n`);
      headed.add(step.id);
      return step.id;
    },
    log(id, _stream, chunk) {
      const step = book.get(id);
      if (!step) return;
      for (const l of book.append(step, chunk.toString())) logLine(step, l.at, l.text);
    },
    status(id, text) {
      const step = book.get(id);
      if (step) line(step, `${text} done`);
    },
    cached: (id) => finish(id, { cached: true }, () => 'CACHED'),
    done: (id) => finish(id, {}, (step) => `DONE ${((step.completed! - step.started) / 1000).toFixed(1)}s`),
    error: (id, message) => finish(id, { error: message }, () => `ERROR: ${message}`),
    canceled: (id) => finish(id, { canceled: true }, () => 'CANCELED'),
    message(text) {
      if (current && current.completed === undefined) write(`#${current.id} ...\n`);
      if (printed) write('\n');
      write(`${text}\n`);
      current = undefined;
    },
    warning: (text) => void warnings.push(text),
    expect: (count) => book.expect(count),
    close() {
      if (closed) return;
      closed = true;
      for (const step of book.steps) flush(step);
      write(warningList(warnings));
      to.write(errorBoxes(book));
    },
  };
}
