import type { BigIntStats, Stats } from 'node:fs';
import { fsExtra } from '../sys/fsx.ts';

/**
 * Stat data of context files as the native addon packs it (readdirStat in native/addon/sys.c): a
 * whole directory's entries in one ArrayBuffer, a StatChunk. The walk hands the rest of berth a
 * Stats view over one entry of a chunk, so no file is stat'ed twice, nothing is copied, and a no-op
 * build, which reads almost none of the fields, allocates one small object per file instead of a
 * BigIntStats of 18 BigInts (whose garbage collection alone cost more than the system calls on a
 * 20,000-file context).
 *
 * Slots (int64): 0 dev, 1 ino, 2 mode, 3 uid, 4 gid, 5 size, 6-7 mtime sec/nsec, 8-9 ctime
 * sec/nsec, 10 nlink, 11 rdev, 12 blksize, 13 blocks, 14-15 atime, 16-17 birthtime. A chunk holds
 * slots 0-9 (the "front", what a context fingerprint covers) of all its entries first, then the
 * rest of each, so a fingerprint can hash a directory's front in one piece. Every value is the one
 * Node's lstat reports (Number fields like Stats, BigInt ones like BigIntStats in `big`).
 */
const FRONT_SLOTS = 10;
const BACK_SLOTS = 8;

const S_IFMT = 0o170000;
const TWO_32 = 4294967296;

/** One directory's entries, as one native call returned them. */
export class StatChunk {
  /** int32 view of the buffer (native byte order, as the addon wrote it). */
  readonly words: Int32Array;
  /** The entries' names as the walk asked for them (paths in the context), joined with NULs. */
  readonly names: string;
  readonly count: number;

  constructor(buffer: ArrayBuffer, names: string) {
    this.words = new Int32Array(buffer);
    this.names = names;
    this.count = this.words.length / ((FRONT_SLOTS + BACK_SLOTS) * 2);
  }

  /** The front slots of every entry in entry order, or of entry `index`: what a fingerprint hashes. */
  front(index?: number): Uint8Array {
    const bytes = FRONT_SLOTS * 8;
    return index === undefined
      ? new Uint8Array(this.words.buffer, this.words.byteOffset, this.count * bytes)
      : new Uint8Array(this.words.buffer, this.words.byteOffset + index * bytes, bytes);
  }

  isDirectory(index: number): boolean {
    return (this.words[(index * FRONT_SLOTS + 2) * 2] & S_IFMT) === 0o040000;
  }

  /** Entry `index`'s ctime in ms, as Node computes it (sec * 1e3 + nsec / 1e6). */
  ctimeMs(index: number): number {
    const at = (index * FRONT_SLOTS + 8) * 2;
    return ((this.words[at] >>> 0) + this.words[at + 1] * TWO_32) * 1e3 + (this.words[at + 2] >>> 0) / 1e6;
  }

  /** The newest ctime (ms) among the entries: one tight loop, it runs for every file of a no-op build. */
  newestCtimeMs(): number {
    const words = this.words;
    const end = this.count * FRONT_SLOTS * 2;
    let newest = -1;
    let sec = -Infinity;
    for (let at = 16; at < end; at += FRONT_SLOTS * 2) {
      const s = (words[at] >>> 0) + words[at + 1] * TWO_32;
      if (s > sec || (s === sec && words[at + 2] > words[newest + 2])) {
        sec = s;
        newest = at;
      }
    }
    return newest < 0 ? -Infinity : sec * 1e3 + (words[newest + 2] >>> 0) / 1e6;
  }

  /** Index in `words` of slot `slot` of entry `index`. */
  word(index: number, slot: number): number {
    return slot < FRONT_SLOTS
      ? (index * FRONT_SLOTS + slot) * 2
      : (this.count * FRONT_SLOTS + index * BACK_SLOTS + slot - FRONT_SLOTS) * 2;
  }
}

/**
 * A Stats view of one entry of a chunk: each field is read from the buffer when asked for, the
 * times also exactly (mtimeSec/mtimeNsec, ctimeSec/ctimeNsec) for the stat cache.
 */
export class WalkStats implements Stats {
  readonly chunk: StatChunk;
  /** Which of the chunk's entries this is. */
  readonly index: number;

  constructor(chunk: StatChunk, index: number) {
    this.chunk = chunk;
    this.index = index;
  }

  /** Unsigned 64-bit slot, rounded to a double as Node rounds its Number fields. */
  private u64(slot: number): number {
    const i = this.chunk.word(this.index, slot);
    return (this.chunk.words[i] >>> 0) + (this.chunk.words[i + 1] >>> 0) * TWO_32;
  }

  /** Signed 64-bit slot (times: seconds may be negative). */
  private i64(slot: number): number {
    const i = this.chunk.word(this.index, slot);
    return (this.chunk.words[i] >>> 0) + this.chunk.words[i + 1] * TWO_32;
  }

  private type(): number { return this.chunk.words[this.chunk.word(this.index, 2)] & S_IFMT; }
  isFile(): boolean { return this.type() === 0o100000; }
  isDirectory(): boolean { return this.chunk.isDirectory(this.index); }
  isSymbolicLink(): boolean { return this.type() === 0o120000; }
  isBlockDevice(): boolean { return this.type() === 0o060000; }
  isCharacterDevice(): boolean { return this.type() === 0o020000; }
  isFIFO(): boolean { return this.type() === 0o010000; }
  isSocket(): boolean { return this.type() === 0o140000; }

  get dev(): number { return this.u64(0); }
  get ino(): number { return this.u64(1); }
  get mode(): number { return this.u64(2); }
  get uid(): number { return this.u64(3); }
  get gid(): number { return this.u64(4); }
  get size(): number { return this.u64(5); }
  get nlink(): number { return this.u64(10); }
  get rdev(): number { return this.u64(11); }
  get blksize(): number { return this.u64(12); }
  get blocks(): number { return this.u64(13); }

  /** Exact times as whole seconds plus nanoseconds, for the stat cache. */
  get mtimeSec(): number { return this.i64(6); }
  get mtimeNsec(): number { return this.i64(7); }
  get ctimeSec(): number { return this.i64(8); }
  get ctimeNsec(): number { return this.i64(9); }

  // Node's own Stats compute the ms fields the same way (sec * 1e3 + nsec / 1e6), and round them
  // to whole ms for the Dates.
  get mtimeMs(): number { return this.i64(6) * 1e3 + this.i64(7) / 1e6; }
  get ctimeMs(): number { return this.chunk.ctimeMs(this.index); }
  get atimeMs(): number { return this.i64(14) * 1e3 + this.i64(15) / 1e6; }
  get birthtimeMs(): number { return this.i64(16) * 1e3 + this.i64(17) / 1e6; }
  get mtime(): Date { return new Date(Math.round(this.mtimeMs)); }
  get ctime(): Date { return new Date(Math.round(this.ctimeMs)); }
  get atime(): Date { return new Date(Math.round(this.atimeMs)); }
  get birthtime(): Date { return new Date(Math.round(this.birthtimeMs)); }

  /** The exact stat data as Node's BigIntStats has it; built on each read (nothing hot uses it). */
  get big(): BigIntStats {
    const slots = new BigInt64Array(this.chunk.words.buffer, this.chunk.words.byteOffset);
    const at = (slot: number): bigint => slots[this.chunk.word(this.index, slot) / 2];
    return bigStats(at);
  }
}

const NS_PER_SEC = 1_000_000_000n;
const NS_PER_MS = 1_000_000n;

function bigStats(s: (slot: number) => bigint): BigIntStats {
  const [atimeNs, mtimeNs, ctimeNs, birthtimeNs] = [14, 6, 8, 16].map((i) => s(i) * NS_PER_SEC + s(i + 1));
  const type = s(2) & BigInt(S_IFMT);
  const big = {
    dev: s(0), ino: s(1), mode: s(2), uid: s(3), gid: s(4), size: s(5), nlink: s(10), rdev: s(11), blksize: s(12), blocks: s(13),
    atimeNs, mtimeNs, ctimeNs, birthtimeNs,
    atimeMs: atimeNs / NS_PER_MS, mtimeMs: mtimeNs / NS_PER_MS, ctimeMs: ctimeNs / NS_PER_MS, birthtimeMs: birthtimeNs / NS_PER_MS,
    atime: new Date(Number(atimeNs / NS_PER_MS)), mtime: new Date(Number(mtimeNs / NS_PER_MS)),
    ctime: new Date(Number(ctimeNs / NS_PER_MS)), birthtime: new Date(Number(birthtimeNs / NS_PER_MS)),
    isFile: () => type === 0o100000n,
    isDirectory: () => type === 0o040000n,
    isSymbolicLink: () => type === 0o120000n,
    isBlockDevice: () => type === 0o060000n,
    isCharacterDevice: () => type === 0o020000n,
    isFIFO: () => type === 0o010000n,
    isSocket: () => type === 0o140000n,
  };
  return big as BigIntStats;
}

/**
 * lstat(2) of one path, as a WalkStats; `name` is its path in the context, for a fingerprint.
 * Errors are Node-like (code, errno, syscall 'lstat', path).
 */
export function lstatWalkStats(file: string, name = ''): WalkStats {
  return new WalkStats(new StatChunk(fsExtra().lstatPacked(file), name), 0);
}

/**
 * The entries of directory `dir` as `prefix` + name, sorted as JavaScript's default sort orders
 * the names, each with its own (lstat) stat data, in one native call. An entry removed between the
 * listing and its stat throws ENOENT (syscall 'lstat'), as the lstat of a listed name always did.
 */
export function readdirWalkStats(dir: string, prefix = ''): { names: string[]; chunk: StatChunk } {
  const [joined, buffer] = fsExtra().readdirStat(dir, prefix);
  const chunk = new StatChunk(buffer, joined);
  // No name holds a NUL, so it separates them; an empty directory gives no names at all.
  return { names: chunk.count === 0 ? [] : joined.split('\0'), chunk };
}
