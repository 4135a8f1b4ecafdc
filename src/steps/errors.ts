/**
 * Errors a step reports at its instruction: a user or group the image does not know, a command
 * that failed, and the file system errors a user can act on (a full disk, a read-only or
 * unwritable store), which say which path. They are BuildErrors with the instruction's range.
 */
import { UserLookupError } from '../container/users.ts';
import { BuildError, type SourceRange } from '../source/index.ts';
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

const SYSTEM_ERRORS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
};

/**
 * A full disk or an unwritable store, met while the step ran or was committed, as an error at the
 * step's instruction naming the path; anything else unchanged.
 */
export function placeSystemError(error: unknown, range: SourceRange): unknown {
  if (error instanceof BuildError || !(error instanceof Error)) return error;
  const { code, path, syscall, dest } = error as NodeJS.ErrnoException & { dest?: string };
  const what = code === undefined ? undefined : SYSTEM_ERRORS[code];
  if (!what) return error;
  // A copy names both ends: the one written is where the space ran out.
  const paths = path && dest ? `${path} -> ${dest}` : (path ?? dest);
  const where = paths ? `${syscall ? `${syscall} ` : ''}${paths}` : (syscall ?? 'writing');
  return new BuildError(`${where}: ${what} (${code})`, range, { cause: error });
}
