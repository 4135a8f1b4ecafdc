/**
 * Build progress as BuildKit shows it. `tty` is the live display (in place, a timer per step, the
 * last lines of running steps), `plain` the CI log (`#5 [2/3] RUN ...`, `#5 0.231 hello`,
 * `#5 DONE 0.2s`), `rawjson` BuildKit's SolveStatus objects one a line, `quiet` nothing but a
 * failing step's last lines. `auto` is `tty` when standard error is a terminal, else `plain`.
 */
export const PROGRESS_MODES = ['auto', 'tty', 'plain', 'rawjson', 'quiet'] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

export type OutputStream = 'stdout' | 'stderr';

/** What the engine and the CLI tell the display. Steps are numbered from 1 in start order. */
export interface Progress {
  start(name: string): number;
  log(step: number, stream: OutputStream, chunk: Buffer | string): void;
  /** A finished part of a step (`naming to docker.io/library/app:latest`). */
  status(step: number, text: string): void;
  cached(step: number): void;
  done(step: number): void;
  error(step: number, message: string): void;
  /** The step was stopped because another one failed, or the build was interrupted (BuildKit's CANCELED). */
  canceled(step: number): void;
  /** A line outside any step (`pulling busybox`): printed above the display, never into rawjson's stream as text. */
  message(text: string): void;
  /** A build warning: listed at the end (plain, tty), a `warnings` entry in rawjson. */
  warning(text: string): void;
  /** `count` more steps will start (the live display's `(done/total)`). */
  expect(count: number): void;
  /** Flushes partial lines, draws the last frame, prints failed steps' last lines. Idempotent. */
  close(): void;
}

/** Where the display writes: standard error, or anything with `write` (tests). */
export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
  rows?: number;
  on?(event: 'resize', listener: () => void): unknown;
  off?(event: 'resize', listener: () => void): unknown;
}

export interface ProgressOptions {
  to?: ProgressOutput;
  /** Milliseconds; Date.now by default. Tests pass a fake clock. */
  now?: () => number;
  /** Colour in the tty display (default: unless NO_COLOR is set). */
  colour?: boolean;
  /** The tty display's redraw interval in ms; 0 redraws only on close (tests draw with `frame`). */
  interval?: number;
}
