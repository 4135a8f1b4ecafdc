import type { BigIntStats, Stats } from 'node:fs';

/**
 * One lstat per context file: the walk asks for nanosecond stat data (which the stat cache needs)
 * and hands the rest of berth an ordinary Stats view of it, so no file is stat'ed twice.
 */
export interface WalkStats extends Stats {
  /** The exact stat data (ns times), for the stat cache. */
  readonly big: BigIntStats;
}

const S_IFMT = 0o170000;

const methods = {
  isFile(this: WalkStats) { return (this.mode & S_IFMT) === 0o100000; },
  isDirectory(this: WalkStats) { return (this.mode & S_IFMT) === 0o040000; },
  isSymbolicLink(this: WalkStats) { return (this.mode & S_IFMT) === 0o120000; },
  isBlockDevice(this: WalkStats) { return (this.mode & S_IFMT) === 0o060000; },
  isCharacterDevice(this: WalkStats) { return (this.mode & S_IFMT) === 0o020000; },
  isFIFO(this: WalkStats) { return (this.mode & S_IFMT) === 0o010000; },
  isSocket(this: WalkStats) { return (this.mode & S_IFMT) === 0o140000; },
  get atime(): Date { return new Date((this as unknown as WalkStats).atimeMs); },
  get mtime(): Date { return new Date((this as unknown as WalkStats).mtimeMs); },
  get ctime(): Date { return new Date((this as unknown as WalkStats).ctimeMs); },
  get birthtime(): Date { return new Date((this as unknown as WalkStats).birthtimeMs); },
};

export function walkStats(big: BigIntStats): WalkStats {
  const stats = Object.create(methods) as Record<string, unknown>;
  stats.big = big;
  stats.dev = Number(big.dev);
  stats.ino = Number(big.ino);
  stats.mode = Number(big.mode);
  stats.nlink = Number(big.nlink);
  stats.uid = Number(big.uid);
  stats.gid = Number(big.gid);
  stats.rdev = Number(big.rdev);
  stats.size = Number(big.size);
  stats.blksize = Number(big.blksize);
  stats.blocks = Number(big.blocks);
  // Node's own Stats derive the ms fields the same way (seconds * 1e3 + ns / 1e6).
  stats.atimeMs = Number(big.atimeNs) / 1e6;
  stats.mtimeMs = Number(big.mtimeNs) / 1e6;
  stats.ctimeMs = Number(big.ctimeNs) / 1e6;
  stats.birthtimeMs = Number(big.birthtimeNs) / 1e6;
  return stats as unknown as WalkStats;
}
