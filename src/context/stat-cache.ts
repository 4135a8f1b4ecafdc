import { createHash, randomBytes } from 'node:crypto';
import { type BigIntStats, closeSync, createReadStream, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fsExtra } from '../sys/fsx.ts';

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

type CachedStat = [dev: number, ino: number, size: number, mode: number, uid: number, gid: number, mtimeNs: string, ctimeNs: string, digest: string, recordedMs: number];

const VERSION = 2;
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

function readEntries(file: string): Map<string, CachedStat> {
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as { version: number; entries: Record<string, CachedStat> };
    if (data.version === VERSION) return new Map(Object.entries(data.entries));
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

/**
 * A file's content digest, and its file capabilities when it has any: COPY carries the
 * `security.capability` xattr into the layer, so it is part of what the step reads. Setting it
 * changes ctime, so a cached entry is never stale about it.
 */
async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  const capability = fsExtra().lgetxattr(file, 'security.capability');
  if (capability !== null) hash.update(`\0security.capability\0${capability.toString('hex')}`);
  return hash.digest('hex');
}

/** The sha256 (hex) of a regular file's content, from the cache when its stat data is unchanged. */
export async function cachedFileDigest(cache: StatCache | undefined, hostPath: string, known?: BigIntStats): Promise<string> {
  if (!cache) return hashFile(hostPath);
  const s = known ?? lstatSync(hostPath, { bigint: true });
  const entry = cache.entries.get(hostPath);
  // Cheap number comparisons first; the nanosecond times are compared as decimal strings.
  if (entry && entry[2] === Number(s.size) && entry[1] === Number(s.ino) && entry[0] === Number(s.dev)
    && entry[3] === Number(s.mode) && entry[4] === Number(s.uid) && entry[5] === Number(s.gid)
    && Number(s.ctimeNs) / 1e6 + RACY_WINDOW_MS < entry[9]
    && entry[7] === String(s.ctimeNs) && entry[6] === String(s.mtimeNs)) {
    cache.hits++;
    return entry[8];
  }
  cache.misses++;
  const digest = await hashFile(hostPath);
  // Re-check: a file that changed while we read it must not be cached under the old stat data.
  const after = lstatSync(hostPath, { bigint: true });
  if (after.ctimeNs === s.ctimeNs && after.size === s.size) {
    cache.entries.set(hostPath, [
      Number(s.dev), Number(s.ino), Number(s.size), Number(s.mode), Number(s.uid), Number(s.gid),
      String(s.mtimeNs), String(s.ctimeNs), digest, Date.now(),
    ]);
    cache.dirty = true;
  }
  return digest;
}

function writeJsonAtomic(file: string, value: unknown): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx');
  try {
    writeSync(fd, JSON.stringify(value));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, file);
}

/** Writes the cache back (temp file, fsync, rename) when anything changed. */
export function saveStatCache(cache: StatCache): void {
  if (cache.dirty) {
    writeJsonAtomic(cache.file, { version: VERSION, entries: Object.fromEntries(cache.entries) });
    cache.dirty = false;
  }
  if (cache.printsDirty) {
    // Only the latest fingerprints matter; keep the file small.
    const recent = [...cache.prints].sort((a, b) => b[1][2] - a[1][2]).slice(0, 256);
    writeJsonAtomic(cache.printsFile, { version: VERSION, prints: Object.fromEntries(recent) });
    cache.printsDirty = false;
  }
}
