/**
 * The build cache's decisions, apart from how steps run: whether a record can stand for a step
 * (same parent file system, layer blob present), and who wins when two builds finish the same step
 * at once. Records themselves are files (src/cache/records.ts).
 */
import { readCacheRecord, touchCacheRecord, writeCacheRecord, writeCacheRecordIfAbsent, type CacheRecord } from './records.ts';

export interface BuildCache {
  /** The record for `key` if it can stand for a step run on `parentChainId` ('' for an empty one). */
  lookup(key: string, parentChainId: string): Promise<CacheRecord | undefined>;
  /**
   * Stores a step's own record. When another build stored a usable record for the key first, that
   * one decides (as if this build had found it a moment later) and is returned instead; `replace`
   * (--no-cache) always writes this build's record.
   */
  store(record: CacheRecord, replace: boolean): Promise<CacheRecord | undefined>;
  /** Marks a record used, so prune ages the cache by last use. */
  touch(key: string): void;
}

export function openBuildCache(dir: string, hasBlob: (digest: string) => Promise<boolean>): BuildCache {
  const usable = async (record: CacheRecord, parentChainId: string): Promise<boolean> =>
    record.parentChainId === parentChainId && (!record.layer || (await hasBlob(record.layer.blobDigest)));
  return {
    async lookup(key, parentChainId) {
      const record = readCacheRecord(dir, key);
      return record && (await usable(record, parentChainId)) ? record : undefined;
    },
    async store(record, replace) {
      if (!replace) {
        if (await writeCacheRecordIfAbsent(dir, record)) return undefined;
        const theirs = readCacheRecord(dir, record.key);
        if (theirs && (await usable(theirs, record.parentChainId ?? ''))) return theirs;
      }
      await writeCacheRecord(dir, record);
      return undefined;
    },
    touch: (key) => touchCacheRecord(dir, key),
  };
}
