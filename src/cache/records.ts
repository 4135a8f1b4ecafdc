import { readdirSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { writeFileAtomic } from '../content/store.ts';
import path from 'node:path';
import type { LayerRef } from '../snapshot/snapshots.ts';

/**
 * One cache entry per vertex key: a plain file named by the key, written to a temp name, fsynced
 * and renamed into place, so a crash never leaves a half-written entry visible (Go build cache's
 * habit). The record names the layer the step produced; the layer's blob and snapshot live in the
 * content and snapshot stores.
 */
export interface CacheRecord {
  key: string;
  /** Undefined when the step changed no file (an empty layer). */
  layer?: LayerRef;
  /** Snapshot (chain id) the layer was unpacked into on this machine; lets prune keep it. */
  chainId?: string;
  /**
   * Chain id of the file system the step ran on ('' for an empty one). A record is only reused on
   * that same parent: a parent rebuilt with other contents (its own record pruned, or
   * --no-cache-filter) must not get an old child layer stacked on it.
   */
  parentChainId?: string;
  createdAt: string;
}

function recordPath(dir: string, key: string): string {
  const hex = key.replace(/^sha256:/, '');
  return path.join(dir, hex.slice(0, 2), `${hex}.json`);
}

export function readCacheRecord(dir: string, key: string): CacheRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(recordPath(dir, key), 'utf8')) as CacheRecord;
    return record.key === key ? record : undefined;
  } catch {
    return undefined;
  }
}

export async function writeCacheRecord(dir: string, record: CacheRecord): Promise<void> {
  await writeFileAtomic(recordPath(dir, record.key), JSON.stringify(record));
}

/**
 * Writes a record unless one for its key exists (temp file, fsync, then link(2), which never
 * replaces): of two builds that ran the same step at once, the first to finish decides. Returns
 * false, writing nothing, when a record was there.
 */
export async function writeCacheRecordIfAbsent(dir: string, record: CacheRecord): Promise<boolean> {
  return writeFileAtomic(recordPath(dir, record.key), JSON.stringify(record), { noReplace: true });
}

/** Marks a record as just used (its file's mtime), so prune ages cache by last use, not creation. */
export function touchCacheRecord(dir: string, key: string): void {
  const now = new Date();
  try {
    utimesSync(recordPath(dir, key), now, now);
  } catch {
    // Gone meanwhile (a concurrent prune): nothing to mark.
  }
}

/** Every record in the cache directory (for du, prune and cache export). */
export function listCacheRecords(dir: string): Array<CacheRecord & { file: string; size: number; usedAt: number }> {
  const out: Array<CacheRecord & { file: string; size: number; usedAt: number }> = [];
  let shards: string[];
  try {
    shards = readdirSync(dir);
  } catch {
    return out;
  }
  for (const shard of shards) {
    let names: string[];
    try {
      names = readdirSync(path.join(dir, shard));
    } catch {
      continue;
    }
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const file = path.join(dir, shard, name);
      try {
        const record = JSON.parse(readFileSync(file, 'utf8')) as CacheRecord;
        const stat = statSync(file);
        out.push({ ...record, file, size: stat.size, usedAt: stat.mtimeMs });
      } catch {
        // Removed meanwhile, or a stray file: not a record.
      }
    }
  }
  return out;
}
