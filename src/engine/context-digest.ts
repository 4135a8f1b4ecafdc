import { createHash } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import path from 'node:path';
import { cachedFileDigest, type StatCache } from '../context/stat-cache.ts';
import type { WalkStats } from '../context/stats.ts';
import type { RemoteFile, SourceEntry, SourceTree } from './source-tree.ts';

/** `rel` below `base` (walks list a source's entries under it), without path.relative's cost. */
function subPath(base: string, rel: string): string {
  if (rel === base) return '';
  if (base === '') return rel;
  return rel.startsWith(`${base}/`) ? rel.slice(base.length + 1) : path.posix.relative(base, rel);
}

/**
 * Digest of exactly what a COPY reads: for every matched source, each entry's path below it, type,
 * mode, owner, size, link target and content. Times are left out so a touched but unchanged file
 * keeps the cache. A downloaded file (ADD <url>) counts by its content digest only.
 */
export async function digestSources(
  tree: SourceTree, matches: ReadonlyArray<{ rel: string; entry: SourceEntry; remote?: RemoteFile; include?: string[] }>,
  statCache?: StatCache,
): Promise<string> {
  const hash = createHash('sha256');
  for (const match of matches) {
    hash.update(`match ${match.rel}\0`);
    if (match.remote) {
      hash.update(`remote ${match.remote.digest}\0`);
      continue;
    }
    if (match.include) hash.update(`include ${JSON.stringify(match.include)}\0`);
    for (const entry of tree.walk(match.entry)) {
      const s = entry.stat;
      const sub = subPath(match.entry.rel, entry.rel);
      const kind = s.isDirectory() ? 'd' : s.isSymbolicLink() ? 'l' : s.isFile() ? 'f' : 'o';
      hash.update(`${sub}\0${kind}\0${s.mode}\0${s.uid}:${s.gid}\0${s.size}\0`);
      if (kind === 'l') hash.update(`${readlinkSync(entry.hostPath)}\0`);
      if (kind === 'f') hash.update(`${await cachedFileDigest(statCache, entry.hostPath, (s as Partial<WalkStats>).big)}\0`);
    }
  }
  return `sha256:${hash.digest('hex')}`;
}
