/**
 * Errors a step reports at its instruction: a user or group the image does not know, a command
 * that failed. They are BuildErrors with the instruction's range.
 */
import { UserLookupError } from '../container/users.ts';
import { BuildError } from '../source/index.ts';
import type { StepContext } from './types.ts';

export function failStep(ctx: StepContext, message: string): never {
  throw new BuildError(message, ctx.vertex.range);
}

/** Runs `lookup`, turning a user lookup failure into an error at the step's instruction. */
export function placeUserError<T>(ctx: StepContext, lookup: () => T): T {
  try {
    return lookup();
  } catch (error) {
    if (error instanceof UserLookupError) failStep(ctx, error.message);
    throw error;
  }
}
