import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { globMatch, hasGlobMeta } from '../context/glob.ts';
import { walkContext, type ContextFilter } from '../context/walk.ts';
import { lookup, readMergedDir, resolveInRoot, type MergedView } from '../fsview/merged.ts';

/** One file system object a COPY reads, wherever it lives. */
export interface SourceEntry {
  /** Path relative to the source's root. */
  rel: string;
  hostPath: string;
  stat: Stats;
}

/**
 * Where COPY reads from: the build context (a host directory seen through .dockerignore) or
 * another stage or image (an overlay stack read without mounting).
 */
export interface SourceTree {
  describe: string;
  /** The entry at `rel`, top-level symlinks followed inside the tree's root. */
  resolve(rel: string): SourceEntry | undefined;
  /** Names directly in directory `rel` (visible ones only). */
  names(rel: string): string[];
  /** `rel` and everything below it, parents first, sorted. */
  walk(entry: SourceEntry): SourceEntry[];
}

export function contextTree(root: string, filter: ContextFilter): SourceTree {
  const safeLstat = (rel: string): Stats | undefined => {
    try {
      return lstatSync(path.join(root, rel));
    } catch {
      return undefined;
    }
  };
  return {
    describe: 'build context',
    resolve(rel) {
      // Follow a symlink named directly as a source, but never out of the context.
      let current = rel;
      for (let hops = 0; hops < 40; hops++) {
        if (current !== '' && filter.excluded(current)) return undefined;
        const stat = safeLstat(current);
        if (!stat) return undefined;
        if (!stat.isSymbolicLink()) return { rel: current, hostPath: path.join(root, current), stat };
        const target = readlinkSync(path.join(root, current));
        current = path.posix.normalize(path.posix.join('/', target.startsWith('/') ? '' : path.posix.dirname(current), target)).slice(1);
      }
      return undefined;
    },
    names(rel) {
      try {
        return readdirSync(path.join(root, rel)).filter((n) => !filter.excluded(rel ? `${rel}/${n}` : n) || filter.mustDescend(rel ? `${rel}/${n}` : n)).sort();
      } catch {
        return [];
      }
    },
    walk(entry) {
      return walkContext(root, filter, entry.rel).map((e) => ({ rel: e.rel, stat: e.stat, hostPath: path.join(root, e.rel) }));
    },
  };
}

export function mergedTree(view: MergedView, describe: string): SourceTree {
  const walkFrom = (rel: string, out: SourceEntry[]): void => {
    const entry = lookup(view, rel);
    if (!entry) return;
    out.push({ rel, hostPath: entry.hostPath, stat: entry.stat });
    if (!entry.stat.isDirectory()) return;
    for (const [name] of readMergedDir(view, rel, entry)) walkFrom(rel ? `${rel}/${name}` : name, out);
  };
  return {
    describe,
    resolve(rel) {
      const resolved = resolveInRoot(view, rel, true);
      const entry = lookup(view, resolved);
      return entry ? { rel: resolved, hostPath: entry.hostPath, stat: entry.stat } : undefined;
    },
    names(rel) {
      const entry = lookup(view, resolveInRoot(view, rel, true));
      return entry?.stat.isDirectory() ? [...readMergedDir(view, rel, entry).keys()] : [];
    },
    walk(entry) {
      const out: SourceEntry[] = [];
      walkFrom(entry.rel, out);
      return out;
    },
  };
}

/** Normalises a COPY source word to a root-relative path (`..` never leaves the root). */
export function cleanSourcePath(word: string): string {
  return path.posix.normalize(path.posix.join('/', word)).slice(1).replace(/\/$/, '');
}

/** Expands a source word with Go filepath.Match wildcards, one path segment at a time. */
export function expandSource(tree: SourceTree, word: string): string[] {
  const clean = cleanSourcePath(word);
  if (!hasGlobMeta(clean)) return [clean];
  let candidates = [''];
  for (const segment of clean.split('/')) {
    const next: string[] = [];
    for (const dir of candidates) {
      if (!hasGlobMeta(segment)) {
        next.push(dir ? `${dir}/${segment}` : segment);
        continue;
      }
      for (const name of tree.names(dir)) if (globMatch(segment, name)) next.push(dir ? `${dir}/${name}` : name);
    }
    candidates = next;
  }
  return candidates.filter((rel) => tree.resolve(rel) !== undefined);
}
