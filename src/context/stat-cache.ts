import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readFileSync, readSync } from 'node:fs';
import path from 'node:path';
import { fsExtra } from '../sys/fsx.ts';
import { lstatWalkStats, type WalkStats } from './stats.ts';
import { writeFileAtomicSync } from '../content/store.ts';

/**
 * Remembers the content digest of context files by their stat data (device, inode, size, mode,
 * owner, mtime and ctime in nanoseconds), so an unchanged file is never read again. ctime moves on
 * every write, chmod and chown, so same-size same-mtime edits are still seen. An entry whose ctime
 * is too close to when it was recorded is not trusted (the file could still change within the
 * file system's timestamp granularity: git's "racily clean" problem).
 */
export interface StatCache {
  file: string;
  /** Per-file entries, read from disk on first use (a no-op build never needs them). */
  readonly entries: Map<string, CachedStat>;
  dirty: boolean;
  hits: number;
  misses: number;
  /**
   * Whole-source fingerprints: the hash of every entry's stat data below one COPY source, with the
   * digest it had. A source whose fingerprint is unchanged needs no per-file work at all.
   */
  prints: Map<string, CachedPrint>;
  printsFile: string;
  printsDirty: boolean;
}

/** [digest, newest ctime (ms) among the entries, when recorded (ms)]. */
type CachedPrint = [digest: string, newestCtimeMs: number, recordedMs: number];

/** Times as whole seconds and nanoseconds: exact, and comparable without BigInts or strings. */
type CachedStat = [
  dev: number, ino: number, size: number, mode: number, uid: number, gid: number,
  mtimeSec: number, mtimeNsec: number, ctimeSec: number, ctimeNsec: number, digest: string, recordedMs: number,
];

// 3: times as sec + nsec numbers; fingerprints over packed stat records (scanContext in walk.ts).
const VERSION = 3;
const RACY_WINDOW_MS = 2000;

export function openStatCache(dir: string, contextDir: string): StatCache {
  const key = createHash('sha256').update(path.resolve(contextDir)).digest('hex').slice(0, 32);
  const file = path.join(dir, `${key}.json`);
  const printsFile = path.join(dir, `${key}.prints.json`);
  let entries: Map<string, CachedStat> | undefined;
  let prints = new Map<string, CachedPrint>();
  try {
    const data = JSON.parse(readFileSync(printsFile, 'utf8')) as { version: number; prints: Record<string, CachedPrint> };
    if (data.version === VERSION) prints = new Map(Object.entries(data.prints));
  } catch {
    // Missing or unreadable: start empty; it is only a cache.
  }
  return {
    file, printsFile, prints, dirty: false, printsDirty: false, hits: 0, misses: 0,
    get entries() {
      entries ??= readEntries(file);
      return entries;
    },
  };
}

type CachedStatV2 = [dev: number, ino: number, size: number, mode: number, uid: number, gid: number, mtimeNs: string, ctimeNs: string, digest: string, recordedMs: number];

/** Whole seconds and nanoseconds (0 to 1e9 - 1, also before 1970) of a decimal ns count. */
function secNsec(ns: string): [number, number] {
  const n = BigInt(ns);
  const nsec = ((n % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  return [Number((n - nsec) / 1_000_000_000n), Number(nsec)];
}

function readEntries(file: string): Map<string, CachedStat> {
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as { version: number; entries: Record<string, CachedStat> };
    if (data.version === VERSION) return new Map(Object.entries(data.entries));
    // Version 2 held the same data with ns times as strings: converted, an upgrade reads no file again.
    if (data.version === 2) {
      return new Map(Object.entries(data.entries as unknown as Record<string, CachedStatV2>).map(([file, e]) => [
        file, [e[0], e[1], e[2], e[3], e[4], e[5], ...secNsec(e[6]), ...secNsec(e[7]), e[8], e[9]],
      ]));
    }
  } catch {
    // Missing or unreadable: start empty; it is only a cache.
  }
  return new Map();
}

/** The digest remembered for a fingerprint, unless its newest entry is too recent to trust. */
export function cachedPrint(cache: StatCache, print: string): string | undefined {
  const hit = cache.prints.get(print);
  if (!hit || hit[1] + RACY_WINDOW_MS >= hit[2]) return undefined;
  return hit[0];
}

export function rememberPrint(cache: StatCache, print: string, digest: string, newestCtimeMs: number): void {
  cache.prints.set(print, [digest, newestCtimeMs, Date.now()]);
  cache.printsDirty = true;
}

// Made on first use, not at load: nothing sized at module level goes into the start-up snapshot.
let readBuffer: Buffer | undefined;

/**
 * A file's content digest, and its file capabilities when it has any: COPY carries the
 * `security.capability` xattr into the layer, so it is part of what the step reads. Setting it
 * changes ctime, so a cached entry is never stale about it.
 */
async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  const fd = openSync(file, 'r');
  try {
    // Small files (nearly all of a context) are read synchronously into one reused buffer: a
    // stream costs four thread-pool round trips and fresh buffers per file, which for 20,000
    // files is seconds. Larger ones stream, so a huge file does not hold up parallel stages.
    readBuffer ??= Buffer.allocUnsafe(1 << 20);
    const first = readSync(fd, readBuffer, 0, readBuffer.length, 0);
    hash.update(readBuffer.subarray(0, first));
    if (first === readBuffer.length) {
      for await (const chunk of createReadStream(file, { fd, autoClose: false, start: first })) hash.update(chunk as Buffer);
    }
  } finally {
    closeSync(fd);
  }
  const capability = fsExtra().lgetxattr(file, 'security.capability');
  if (capability !== null) hash.update(`\0security.capability\0${capability.toString('hex')}`);
  return hash.digest('hex');
}

/** The sha256 (hex) of a regular file's content, from the cache when its stat data is unchanged. */
export async function cachedFileDigest(cache: StatCache | undefined, hostPath: string, known?: WalkStats): Promise<string> {
  if (!cache) return hashFile(hostPath);
  const s = known ?? lstatWalkStats(hostPath);
  const entry = cache.entries.get(hostPath);
  if (entry && entry[2] === s.size && entry[1] === s.ino && entry[0] === s.dev
    && entry[3] === s.mode && entry[4] === s.uid && entry[5] === s.gid
    && entry[8] === s.ctimeSec && entry[9] === s.ctimeNsec && entry[6] === s.mtimeSec && entry[7] === s.mtimeNsec
    && s.ctimeMs + RACY_WINDOW_MS < entry[11]) {
    cache.hits++;
    return entry[10];
  }
  cache.misses++;
  const digest = await hashFile(hostPath);
  // Re-check: a file that changed while we read it must not be cached under the old stat data.
  const after = lstatWalkStats(hostPath);
  if (after.ctimeSec === s.ctimeSec && after.ctimeNsec === s.ctimeNsec && after.size === s.size) {
    cache.entries.set(hostPath, [
      s.dev, s.ino, s.size, s.mode, s.uid, s.gid, s.mtimeSec, s.mtimeNsec, s.ctimeSec, s.ctimeNsec, digest, Date.now(),
    ]);
    cache.dirty = true;
  }
  return digest;
}

/** Writes the cache back (temp file, fsync, rename) when anything changed. */
export function saveStatCache(cache: StatCache): void {
  if (cache.dirty) {
    writeFileAtomicSync(cache.file, JSON.stringify({ version: VERSION, entries: Object.fromEntries(cache.entries) }));
    cache.dirty = false;
  }
  if (cache.printsDirty) {
    // Only the latest fingerprints matter; keep the file small.
    const recent = [...cache.prints].sort((a, b) => b[1][2] - a[1][2]).slice(0, 256);
    writeFileAtomicSync(cache.printsFile, JSON.stringify({ version: VERSION, prints: Object.fromEntries(recent) }));
    cache.printsDirty = false;
  }
}
