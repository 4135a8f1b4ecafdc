import { createHash } from 'node:crypto';
import { makeBook, type Step, type StepOutcome } from './steps.ts';
import type { Progress, ProgressOutput } from './types.ts';

/**
 * BuildKit's SolveStatus as `docker buildx build --progress rawjson` streams it, one object a line
 * and nothing else on the stream: `vertexes` ({digest, name, started, completed, cached, error}),
 * `statuses` ({id, vertex, current, timestamp, started, completed}), `logs` ({vertex, stream 1|2,
 * data in base64, timestamp}) and `warnings` ({vertex, level, short in base64}). Times are RFC 3339.
 * (buildx indents each object over several lines; one a line is what a line reader wants.)
 *
 * Vertex digests are BuildKit's content digests of LLB ops; berth has no LLB, so a step's digest
 * is the sha256 of its number and name: stable within a build, distinct between steps.
 */
export function rawjsonProgress(to: ProgressOutput, now: () => number): Progress {
  const book = makeBook(now);
  const digests = new Map<number, string>();
  const time = (ms: number): string => new Date(ms).toISOString();
  const emit = (object: object): void => void to.write(`${JSON.stringify(object)}\n`);
  const digestOf = (step: Step): string => {
    let digest = digests.get(step.id);
    if (!digest) {
      digest = `sha256:${createHash('sha256').update(`berth-step ${step.id} ${step.name}`).digest('hex')}`;
      digests.set(step.id, digest);
    }
    return digest;
  };
  const vertex = (step: Step): void => {
    emit({
      vertexes: [{
        digest: digestOf(step), name: step.name, started: time(step.started),
        ...(step.completed !== undefined ? { completed: time(step.completed) } : {}),
        ...(step.cached ? { cached: true } : {}),
        ...(step.error !== undefined ? { error: step.error } : {}),
      }],
    });
  };
  const finish = (id: number, outcome: StepOutcome): void => {
    const step = book.get(id);
    if (!step || step.completed !== undefined) return;
    book.finish(step, outcome);
    vertex(step);
  };
  // Messages outside steps (pulling an image, the rootless note) belong to the step that runs
  // when they come; before any step there is nothing to attach them to in SolveStatus.
  const lastStep = (): Step | undefined => book.steps.at(-1);
  return {
    start(name) {
      const step = book.start(name);
      vertex(step);
      return step.id;
    },
    log(id, stream, chunk) {
      const step = book.get(id);
      if (!step) return;
      const data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      emit({ logs: [{ vertex: digestOf(step), stream: stream === 'stdout' ? 1 : 2, data: data.toString('base64'), timestamp: time(now()) }] });
    },
    status(id, text) {
      const step = book.get(id);
      if (!step) return;
      const at = time(now());
      emit({ statuses: [{ id: text, vertex: digestOf(step), current: 0, timestamp: at, started: at, completed: at }] });
    },
    cached: (id) => finish(id, { cached: true }),
    done: (id) => finish(id, {}),
    error: (id, message) => finish(id, { error: message }),
    // BuildKit's vertex error for a step stopped by another's failure.
    canceled: (id) => finish(id, { error: 'context canceled', canceled: true }),
    message(text) {
      const step = lastStep();
      if (step) emit({ logs: [{ vertex: digestOf(step), stream: 2, data: Buffer.from(`${text}\n`).toString('base64'), timestamp: time(now()) }] });
    },
    warning(text) {
      const step = book.steps[0];
      emit({ warnings: [{ ...(step ? { vertex: digestOf(step) } : {}), level: 1, short: Buffer.from(text).toString('base64') }] });
    },
    expect: () => {},
    // Every event was written as it came: nothing is pending.
    close: () => {},
  };
}
