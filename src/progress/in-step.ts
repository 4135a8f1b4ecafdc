import type { Progress } from './types.ts';

/**
 * Runs `work` as a step of its own: started now, then CACHED (when `cached` says nothing needed
 * doing), DONE or ERROR. For steps berth does outside the plan's vertices: `[internal] load ...`,
 * an image's FROM (unpacking its layers), exporting.
 */
export async function inStep<T>(progress: Progress, name: string, work: (step: number) => Promise<T> | T, cached = false): Promise<T> {
  const step = progress.start(name);
  let result: T;
  try {
    result = await work(step);
  } catch (error) {
    progress.error(step, error instanceof Error ? error.message : String(error));
    throw error;
  }
  if (cached) progress.cached(step);
  else progress.done(step);
  return result;
}
