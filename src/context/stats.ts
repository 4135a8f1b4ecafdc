import type { BigIntStats, Stats } from 'node:fs';

/**
 * One lstat per context file: the walk asks for nanosecond stat data (which the stat cache needs)
 * and hands the rest of berth an ordinary Stats view of it, so no file is stat'ed twice. The view
 * computes each field when it is read: a no-op build reads almost none of them, and 20,000 eager
 * objects would only feed the garbage collector.
 */
export interface WalkStats extends Stats {
  /** The exact stat data (ns times), for the stat cache. */
  readonly big: BigIntStats;
}

const S_IFMT = 0o170000;

type Self = { big: BigIntStats };

const view: Record<string, unknown> = {
  isFile(this: Self) { return (Number(this.big.mode) & S_IFMT) === 0o100000; },
  isDirectory(this: Self) { return (Number(this.big.mode) & S_IFMT) === 0o040000; },
  isSymbolicLink(this: Self) { return (Number(this.big.mode) & S_IFMT) === 0o120000; },
  isBlockDevice(this: Self) { return (Number(this.big.mode) & S_IFMT) === 0o060000; },
  isCharacterDevice(this: Self) { return (Number(this.big.mode) & S_IFMT) === 0o020000; },
  isFIFO(this: Self) { return (Number(this.big.mode) & S_IFMT) === 0o010000; },
  isSocket(this: Self) { return (Number(this.big.mode) & S_IFMT) === 0o140000; },
};

const NUMBER_FIELDS = ['dev', 'ino', 'mode', 'nlink', 'uid', 'gid', 'rdev', 'size', 'blksize', 'blocks'] as const;
for (const field of NUMBER_FIELDS) {
  Object.defineProperty(view, field, { get(this: Self) { return Number(this.big[field]); } });
}
// Node's own Stats derive the ms fields the same way (ns / 1e6).
for (const time of ['atime', 'mtime', 'ctime', 'birthtime'] as const) {
  Object.defineProperty(view, `${time}Ms`, { get(this: Self) { return Number(this.big[`${time}Ns`]) / 1e6; } });
  Object.defineProperty(view, time, { get(this: Self) { return new Date(Number(this.big[`${time}Ns`]) / 1e6); } });
}

export function walkStats(big: BigIntStats): WalkStats {
  const stats = Object.create(view) as Self;
  stats.big = big;
  return stats as unknown as WalkStats;
}
