/**
 * What a COPY from the context read, file by file: type, mode, owner and content digest of each
 * entry below each matched source (a URL by its digest). Kept with the step's record so that the
 * next build that misses the cache can say which files changed (src/cache/explain.ts). Content
 * digests come from the stat cache, which the key's digest just filled, so this reads no file
 * twice. Large contexts are cut at a limit: the explanation then says the list is incomplete.
 */
import { readlinkSync } from 'node:fs';
import path from 'node:path';
import { cachedFileDigest, type StatCache } from '../context/stat-cache.ts';
import { WalkStats } from '../context/stats.ts';
import type { Match } from './match.ts';
import type { SourceTree } from './source-tree.ts';

export interface CopyManifest {
  /** Path in the context (or URL) -> `kind mode uid:gid digest`. */
  files: Record<string, string>;
  truncated: boolean;
}

export const MANIFEST_LIMIT = 5000;

export async function copyManifest(
  tree: SourceTree, matches: readonly Match[], statCache: StatCache | undefined, limit = MANIFEST_LIMIT,
): Promise<CopyManifest> {
  const files: Record<string, string> = {};
  let count = 0;
  for (const match of matches) {
    if (match.remote) {
      files[match.remote.url] = `url ${match.remote.digest}`;
      continue;
    }
    const entries = tree.scan?.(match.entry).entries() ?? tree.walk(match.entry);
    for (const entry of entries) {
      if (count++ >= limit) return { files, truncated: true };
      const s = entry.stat;
      const kind = s.isDirectory() ? 'dir' : s.isSymbolicLink() ? 'link' : s.isFile() ? 'file' : 'other';
      const content = kind === 'link' ? readlinkSync(entry.hostPath)
        : kind === 'file' ? (await cachedFileDigest(statCache, entry.hostPath, s instanceof WalkStats ? s : undefined)).slice(0, 23) : '';
      files[entry.rel || path.basename(entry.hostPath)] = `${kind} ${(s.mode & 0o7777).toString(8)} ${s.uid}:${s.gid} ${content}`;
    }
  }
  return { files, truncated: false };
}
