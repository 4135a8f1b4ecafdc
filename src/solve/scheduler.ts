import pLimit from 'p-limit';

/** A node of any DAG: the scheduler knows ids and inputs, nothing about Dockerfiles. */
export interface SchedulerNode {
  id: string;
  inputs: readonly string[];
}

export interface ScheduleOptions {
  /** Upper bound on nodes running at once. */
  jobs: number;
  signal?: AbortSignal;
}

/**
 * Runs every node once all its inputs have finished, at most `jobs` at a time, and resolves with
 * each node's result. The first failure stops new work from starting and cancels the work in
 * flight (the signal `work` gets is aborted with the failure, as BuildKit cancels a build's other
 * vertices), then rejects the whole run once the running nodes settle, so callers never race
 * cleanup against work still in flight.
 */
export async function runGraph<N extends SchedulerNode, R>(
  nodes: readonly N[],
  work: (node: N, inputs: ReadonlyMap<string, R>, signal: AbortSignal) => Promise<R>,
  options: ScheduleOptions,
): Promise<Map<string, R>> {
  const failFast = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, failFast.signal]) : failFast.signal;
  const limit = pLimit(Math.max(1, options.jobs));
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (const node of nodes) {
    for (const input of node.inputs) {
      if (!byId.has(input)) throw new Error(`graph node ${node.id} has unknown input ${input}`);
    }
  }
  const results = new Map<string, R>();
  const started = new Map<string, Promise<R>>();
  let failure: unknown;
  let failed = false;

  const start = (node: N): Promise<R> => {
    const existing = started.get(node.id);
    if (existing) return existing;
    const promise = (async () => {
      const inputs = await Promise.all(node.inputs.map((id) => start(byId.get(id)!)));
      return limit(async () => {
        if (failed) throw failure;
        signal.throwIfAborted();
        const inputMap = new Map(node.inputs.map((id, i) => [id, inputs[i]]));
        const result = await work(node, inputMap, signal);
        results.set(node.id, result);
        return result;
      });
    })();
    promise.catch((error: unknown) => {
      if (!failed) {
        failed = true;
        failure = error;
        failFast.abort(error);
      }
    });
    started.set(node.id, promise);
    return promise;
  };

  const all = nodes.map((n) => start(n));
  const settled = await Promise.allSettled(all);
  if (failed) throw failure;
  const rejected = settled.find((s) => s.status === 'rejected');
  if (rejected) throw (rejected as PromiseRejectedResult).reason;
  return results;
}
