import { errorBoxes, makeBook, seconds, warningList, type Step, type StepBook, type StepOutcome } from './steps.ts';
import type { Progress, ProgressOutput } from './types.ts';

/**
 * BuildKit's live display: redrawn in place, a header `[+] Building 7.9s (6/9)`, one line per
 * step with its time right-aligned (a running step's time counts up), `CACHED` and `ERROR` before
 * the name, the last lines of every running step's output under it (` => => # ...`), finished
 * steps collapsed to their one line. The last frame says FINISHED and stays on the screen.
 *
 * Frames are plain strings from the book and a clock (renderFrame, tested without a terminal);
 * the driver redraws at most every `interval` ms, by moving the cursor up over the last frame.
 */

/** Running steps show this many of their last lines, as BuildKit does. */
export const TAIL_LINES = 6;

const BLUE = '\x1b[34m';
const RED = '\x1b[31m';
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

export interface FrameOptions {
  now: number;
  /** Terminal columns; lines are cut to one less, as BuildKit does (no wrap in the last column). */
  columns: number;
  /** Terminal rows: a live frame keeps to rows - 1 lines; 0 for no limit (the last frame). */
  rows: number;
  colour: boolean;
  /** The last frame: `FINISHED` in the header (failed or not, as BuildKit's). */
  finished: boolean;
}

/**
 * Output as the display can show it on one line: the text after the last carriage return (a
 * progress bar's latest state), no escape sequences or other control characters, tabs as spaces.
 */
export function displayable(text: string): string {
  const cr = text.lastIndexOf('\r', text.length - 2);
  const latest = (cr >= 0 ? text.slice(cr + 1) : text).replace(/\r$/, '');
  return latest.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '').replace(/\t/g, '    ').replace(/[\x00-\x1f\x7f]/g, '');
}

function cut(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width ? text : chars.slice(0, Math.max(0, width)).join('');
}

/** `text` cut and padded to `width` with `time` at the right, two spaces apart at least. */
function withTime(text: string, time: string, width: number): string {
  const room = Math.max(0, width - time.length - 2);
  const shown = cut(text, room);
  return `${shown}${' '.repeat(room - [...shown].length + 2)}${time}`;
}

interface Line { text: string; colour: string; step?: Step }

function stepLines(step: Step, now: number, width: number): Line[] {
  const end = step.completed ?? now;
  const colour = step.error !== undefined || step.canceled ? RED : step.completed !== undefined ? BLUE : '';
  const prefix = step.cached ? 'CACHED ' : step.error !== undefined ? 'ERROR ' : step.canceled ? 'CANCELED ' : '';
  const lines: Line[] = [{ text: withTime(` => ${prefix}${displayable(step.name)}`, seconds(step.cached ? 0 : end - step.started), width), colour, step }];
  for (const status of step.statuses) lines.push({ text: withTime(` => => ${displayable(status.text)}`, seconds(0), width), colour: BLUE, step });
  // Finished steps collapse to their line (a failed one's output is in the box under the display).
  if (step.completed === undefined) {
    const tail = step.tail.map((l) => l.text);
    if (step.partial !== '') tail.push(step.partial);
    for (const text of tail.slice(-TAIL_LINES)) {
      const shown = cut(` => => # ${displayable(text)}`, width);
      lines.push({ text: shown + ' '.repeat(width - [...shown].length), colour: DIM, step });
    }
  }
  return lines;
}

/** Drops finished steps' lines from the top, then anything from the top, to fit `limit` lines. */
function fit(lines: Line[], limit: number): Line[] {
  if (limit <= 0 || lines.length <= limit) return lines;
  let excess = lines.length - limit;
  const kept = lines.filter((line) => {
    if (excess > 0 && line.step?.completed !== undefined && line.step.error === undefined) {
      excess--;
      return false;
    }
    return true;
  });
  return kept.slice(kept.length - limit);
}

export function renderFrame(book: StepBook, options: FrameOptions): string[] {
  const width = Math.max(20, options.columns - 1);
  const done = options.finished ? ' FINISHED' : '';
  const header = `[+] Building ${seconds(options.now - book.began)} (${book.finished()}/${book.total()})${done}`;
  const body = fit(book.steps.flatMap((step) => stepLines(step, options.now, width)), options.rows > 0 ? options.rows - 2 : 0);
  const paint = (line: Line): string => (options.colour && line.colour ? `${line.colour}${line.text}${RESET}` : line.text);
  return [cut(header, width) + ' '.repeat(Math.max(0, width - header.length)), ...body.map(paint)];
}

/** Terminal rows the lines take at `columns` (a narrowed terminal wraps the old frame's lines). */
function rowsOf(lengths: readonly number[], columns: number): number {
  return lengths.reduce((sum, n) => sum + Math.max(1, Math.ceil(n / Math.max(1, columns))), 0);
}

export function ttyProgress(to: ProgressOutput, now: () => number, colour: boolean, interval: number): Progress {
  const book = makeBook(now);
  const warnings: string[] = [];
  let messages: string[] = [];
  let lastLengths: number[] = [];
  let closed = false;
  let dirty = true;
  const draw = (finished: boolean): void => {
    const columns = to.columns || 80;
    const lines = renderFrame(book, { now: now(), columns, rows: finished ? 0 : to.rows || 24, colour, finished });
    let out = '\x1b[?25l';
    if (lastLengths.length) out += `\x1b[${rowsOf(lastLengths, columns)}A\r`;
    for (const message of messages) out += `${message}\x1b[K\n`;
    messages = [];
    out += `${lines.join('\x1b[K\n')}\x1b[K\n\x1b[J\x1b[?25h`;
    to.write(out);
    lastLengths = lines.map((l) => [...l.replace(/\x1b\[[0-9;]*m/g, '')].length);
    dirty = false;
  };
  // Timers count up while a step runs, so a frame is due every interval even with no events.
  const timer = interval > 0 ? setInterval(() => {
    if (dirty || book.steps.some((s) => s.completed === undefined)) draw(false);
  }, interval) : undefined;
  timer?.unref();
  const onResize = (): void => { dirty = true; };
  to.on?.('resize', onResize);
  const finish = (id: number, outcome: StepOutcome): void => {
    const step = book.get(id);
    if (!step) return;
    book.flush(step);
    book.finish(step, outcome);
    dirty = true;
  };
  return {
    start(name) {
      dirty = true;
      return book.start(name).id;
    },
    log(id, _stream, chunk) {
      const step = book.get(id);
      if (!step) return;
      book.append(step, chunk.toString());
      dirty = true;
    },
    status(id, text) {
      book.get(id)?.statuses.push({ text, at: now() });
      dirty = true;
    },
    cached: (id) => finish(id, { cached: true }),
    done: (id) => finish(id, {}),
    error: (id, message) => finish(id, { error: message }),
    canceled: (id) => finish(id, { canceled: true }),
    message(text) {
      messages.push(text);
      dirty = true;
    },
    warning: (text) => void warnings.push(text),
    expect: (count) => book.expect(count),
    close() {
      if (closed) return;
      closed = true;
      if (timer) clearInterval(timer);
      to.off?.('resize', onResize);
      draw(true);
      to.write(warningList(warnings) + errorBoxes(book));
    },
  };
}
