import { isatty } from 'node:tty';

/**
 * Build progress like BuildKit's: numbered steps, `CACHED`, timings, RUN output. `plain` is for
 * CI logs, `tty` adds colour and the step summary, `rawjson` emits one JSON event a line for
 * tools, `quiet` prints nothing.
 */
export type ProgressMode = 'auto' | 'tty' | 'plain' | 'rawjson' | 'quiet';

export interface ProgressEvent {
  type: 'start' | 'log' | 'done' | 'cached' | 'error' | 'canceled';
  step: number;
  name?: string;
  stream?: 'stdout' | 'stderr';
  data?: string;
  seconds?: number;
  message?: string;
}

export interface Progress {
  start(name: string): number;
  log(step: number, stream: 'stdout' | 'stderr', chunk: Buffer | string): void;
  cached(step: number): void;
  done(step: number): void;
  error(step: number, message: string): void;
  /** The step was stopped because another one failed (BuildKit's CANCELED). */
  canceled(step: number): void;
  /** Flushes partial lines; called once at the end. */
  close(): void;
}

export function createProgress(mode: ProgressMode, to?: NodeJS.WritableStream): Progress {
  // Standard error's stream is made on first write only (isatty asks the descriptor): a quiet
  // build writes nothing, and making the stream costs a no-op build more than its whole output.
  const tty = to ? (to as NodeJS.WriteStream).isTTY === true : isatty(2);
  const resolved = mode === 'auto' ? (tty && !process.env.NO_COLOR ? 'tty' : 'plain') : mode;
  const out = { write: (text: string) => (to ?? process.stderr).write(text) };
  const started = new Map<number, { name: string; at: number; partial: string }>();
  const began = Date.now();
  let next = 1;
  const colour = resolved === 'tty';
  const dim = (s: string): string => (colour ? `\x1b[2m${s}\x1b[0m` : s);
  const blue = (s: string): string => (colour ? `\x1b[34m${s}\x1b[0m` : s);
  const red = (s: string): string => (colour ? `\x1b[31m${s}\x1b[0m` : s);
  const write = (text: string): void => {
    if (resolved !== 'quiet') out.write(text);
  };
  const json = (event: ProgressEvent): void => {
    out.write(`${JSON.stringify({ ...event, time: new Date().toISOString() })}\n`);
  };
  const elapsed = (step: number): number => (Date.now() - (started.get(step)?.at ?? Date.now())) / 1000;
  const flushPartial = (step: number): void => {
    const s = started.get(step);
    if (s && s.partial !== '') {
      write(`#${step} ${((Date.now() - began) / 1000).toFixed(3)} ${s.partial}\n`);
      s.partial = '';
    }
  };
  return {
    start(name) {
      const step = next++;
      started.set(step, { name, at: Date.now(), partial: '' });
      if (resolved === 'rawjson') json({ type: 'start', step, name });
      else write(`${blue(`#${step}`)} ${name}\n`);
      return step;
    },
    log(step, stream, chunk) {
      const text = chunk.toString();
      if (resolved === 'rawjson') return json({ type: 'log', step, stream, data: text });
      if (resolved === 'quiet') return;
      const s = started.get(step);
      if (!s) return;
      const lines = (s.partial + text).split('\n');
      s.partial = lines.pop() ?? '';
      const stamp = ((Date.now() - began) / 1000).toFixed(3);
      for (const line of lines) write(`${dim(`#${step} ${stamp}`)} ${line}\n`);
    },
    cached(step) {
      if (resolved === 'rawjson') json({ type: 'cached', step });
      else write(`${blue(`#${step}`)} CACHED\n`);
    },
    done(step) {
      flushPartial(step);
      const seconds = elapsed(step);
      if (resolved === 'rawjson') json({ type: 'done', step, seconds });
      else write(`${blue(`#${step}`)} DONE ${seconds.toFixed(1)}s\n`);
    },
    error(step, message) {
      flushPartial(step);
      if (resolved === 'rawjson') json({ type: 'error', step, message });
      else write(`${red(`#${step} ERROR:`)} ${message}\n`);
    },
    canceled(step) {
      flushPartial(step);
      if (resolved === 'rawjson') json({ type: 'canceled', step });
      else write(`${red(`#${step} CANCELED`)}\n`);
    },
    close() {
      for (const step of started.keys()) flushPartial(step);
    },
  };
}
