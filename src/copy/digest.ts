import { createHash } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import path from 'node:path';
import { cachedFileDigest, cachedPrint, rememberPrint, type StatCache } from '../context/stat-cache.ts';
import { WalkStats } from '../context/stats.ts';
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
    hash.update(`${await digestMatch(tree, match.entry, statCache)}\0`);
  }
  return `sha256:${hash.digest('hex')}`;
}

/**
 * The digest of everything below one matched source. With a stat cache, a fingerprint of all the
 * entries' stat data (taken during the context walk, see scanContext) is checked first: when it is
 * the one seen last time, and no entry changed too close to that moment to be trusted, the
 * remembered digest stands and no file is looked at again (nor an entry object made).
 */
async function digestMatch(tree: SourceTree, root: SourceEntry, statCache: StatCache | undefined): Promise<string> {
  const scan = tree.scan?.(root);
  let print: string | undefined;
  let newestCtimeMs = 0;
  if (statCache && scan) {
    ({ print, newestCtimeMs } = scan.fingerprint());
    const known = cachedPrint(statCache, print);
    if (known) return known;
  }
  const entries = scan ? scan.entries() : tree.walk(root);
  const hash = createHash('sha256');
  for (const entry of entries) {
    const s = entry.stat;
    const sub = subPath(root.rel, entry.rel);
    const kind = s.isDirectory() ? 'd' : s.isSymbolicLink() ? 'l' : s.isFile() ? 'f' : 'o';
    hash.update(`${sub}\0${kind}\0${s.mode}\0${s.uid}:${s.gid}\0${s.size}\0`);
    if (kind === 'l') hash.update(`${readlinkSync(entry.hostPath)}\0`);
    if (kind === 'f') hash.update(`${await cachedFileDigest(statCache, entry.hostPath, s instanceof WalkStats ? s : undefined)}\0`);
  }
  const digest = hash.digest('hex');
  if (statCache && print) rememberPrint(statCache, print, digest, newestCtimeMs);
  return digest;
}
