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
  entries: Map<string, CachedStat>;
  dirty: boolean;
  hits: number;
  misses: number;
}

type CachedStat = [dev: number, ino: number, size: number, mode: number, uid: number, gid: number, mtimeNs: string, ctimeNs: string, digest: string, recordedMs: number];

const VERSION = 2;
const RACY_WINDOW_MS = 2000;

export function openStatCache(dir: string, contextDir: string): StatCache {
  const key = createHash('sha256').update(path.resolve(contextDir)).digest('hex').slice(0, 32);
  const file = path.join(dir, `${key}.json`);
  let entries = new Map<string, CachedStat>();
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as { version: number; entries: Record<string, CachedStat> };
    if (data.version === VERSION) entries = new Map(Object.entries(data.entries));
  } catch {
    // Missing or unreadable: start empty; it is only a cache.
  }
  return { file, entries, dirty: false, hits: 0, misses: 0 };
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

/** Writes the cache back (temp file, fsync, rename) when anything changed. */
export function saveStatCache(cache: StatCache): void {
  if (!cache.dirty) return;
  mkdirSync(path.dirname(cache.file), { recursive: true });
  const temp = `${cache.file}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx');
  try {
    writeSync(fd, JSON.stringify({ version: VERSION, entries: Object.fromEntries(cache.entries) }));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, cache.file);
  cache.dirty = false;
}
