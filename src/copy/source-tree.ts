import { readdirSync, type Stats } from 'node:fs';
import path from 'node:path';
import { globMatch, hasGlobMeta } from '../context/glob.ts';
import { scanContext, walkContext, type ContextFilter, type ContextScan } from '../context/walk.ts';
import { lookup, readMergedDir, resolveInRoot, type MergedView } from '../fsview/merged.ts';
import { lstatOrUndefined } from '../sys/fsx.ts';

/** One file system object a COPY reads, wherever it lives. */
export interface SourceEntry {
  /** Path relative to the source's root. */
  rel: string;
  hostPath: string;
  stat: Stats;
}

/** A child of a directory; `pending` when .dockerignore excludes it but exceptions may match below. */
export interface SourceChild extends SourceEntry {
  pending?: boolean;
}

/** A file ADD downloaded (it lives in the content store), by the URL it was named with. */
export interface RemoteFile {
  url: string;
  /** sha256 digest of the content: the cache key of the download. */
  digest: string;
  /** File name at the destination: the URL path's last element. */
  name: string;
  /** From Last-Modified, when the server sent one. */
  mtime?: Date;
  entry: SourceEntry;
}

/**
 * Where COPY reads from: the build context (a host directory seen through .dockerignore) or
 * another stage or image (an overlay stack read without mounting).
 */
export interface SourceTree {
  describe: string;
  /** The entry at `rel`, every symlink on the way followed inside the tree's root. */
  resolve(rel: string): SourceEntry | undefined;
  /** Names directly in directory `rel` (visible ones only). */
  names(rel: string): string[];
  /** The entries directly in directory `entry`, sorted bytewise, symlinks not followed. */
  children(entry: SourceEntry): SourceChild[];
  /** `rel` and everything below it, parents first, sorted. */
  walk(entry: SourceEntry): SourceEntry[];
  /** The same walk with a fingerprint of its stat data besides (the build context has one). */
  scan?(entry: SourceEntry): ContextScan;
  /** Files ADD fetched from URLs for this step, by URL. */
  remote?: ReadonlyMap<string, RemoteFile>;
}

const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** `rel` with its symlinks followed inside the tree, or undefined when that leads nowhere. */
function resolvedOrNone(view: MergedView, rel: string): string | undefined {
  try {
    return resolveInRoot(view, rel, true);
  } catch {
    return undefined;
  }
}

/**
 * The build context. Paths resolve inside the context only (a symlink to `/etc` means the
 * context's `etc`), and what .dockerignore excludes does not exist, as in the context Docker sends.
 */
export function contextTree(root: string, filter: ContextFilter): SourceTree {
  const view: MergedView = { layers: [root] };
  // Stat data the digest walks saw: the copy that follows reuses it instead of a second lstat per
  // entry, and gets the nanosecond fields a rebuild's donor files are matched by (copy-reuse.ts).
  // Indexed only when a copy asks (a cached step never does).
  const scans: ContextScan[] = [];
  let walked: Map<string, Stats> | undefined;
  const statOf = (rel: string, hostPath: string): Stats | undefined => {
    if (!walked) {
      walked = new Map();
      for (const scan of scans) for (const e of scan.entries()) walked.set(e.rel, e.stat);
    }
    return walked.get(rel) ?? lstatOrUndefined(hostPath);
  };
  // An excluded directory is in the context only when something below it is re-included: Docker's
  // client sends such a directory for the entries it holds, not for a pattern that could match
  // (`**` then `!folder1/file` with no folder1/file: "/folder1": not found, Docker 26).
  const holdsIncluded = new Map<string, boolean>();
  const throughExceptions = (rel: string, stat: Stats): boolean => {
    if (!stat.isDirectory() || !filter.mustDescend(rel)) return false;
    let holds = holdsIncluded.get(rel);
    if (holds === undefined) holdsIncluded.set(rel, holds = walkContext(root, filter, rel).length > 0);
    return holds;
  };
  const visible = (rel: string, stat: Stats): boolean => rel === '' || !filter.excluded(rel) || throughExceptions(rel, stat);
  const children = (entry: SourceEntry): SourceChild[] => {
    let names: string[];
    try {
      names = readdirSync(path.join(root, entry.rel));
    } catch {
      return [];
    }
    const out: SourceChild[] = [];
    for (const name of names.sort(byBytes)) {
      const rel = entry.rel ? `${entry.rel}/${name}` : name;
      const hostPath = path.join(root, rel);
      const stat = statOf(rel, hostPath);
      if (!stat) continue;
      if (!filter.excluded(rel)) out.push({ rel, hostPath, stat });
      else if (throughExceptions(rel, stat)) out.push({ rel, hostPath, stat, pending: true });
    }
    return out;
  };
  return {
    describe: 'build context',
    resolve(rel) {
      const resolved = resolvedOrNone(view, rel);
      if (resolved === undefined) return undefined;
      // Every directory on the way must be in the context too.
      const parts = resolved.split('/').filter(Boolean);
      for (let i = 1; i <= parts.length; i++) {
        const sub = parts.slice(0, i).join('/');
        const stat = lstatOrUndefined(path.join(root, sub));
        if (!stat || !visible(sub, stat)) return undefined;
      }
      const hostPath = path.join(root, resolved);
      const stat = lstatOrUndefined(hostPath);
      return stat ? { rel: resolved, hostPath, stat } : undefined;
    },
    names(rel) {
      const entry = this.resolve(rel);
      return entry?.stat.isDirectory() ? children(entry).map((c) => path.posix.basename(c.rel)) : [];
    },
    children,
    walk(entry) {
      return walkContext(root, filter, entry.rel);
    },
    scan(entry) {
      const scan = scanContext(root, filter, entry.rel);
      scans.push(scan);
      walked = undefined;
      return scan;
    },
  };
}

/** Another stage's or an image's root file system, read through its layers. */
export function mergedTree(view: MergedView, describe: string): SourceTree {
  const children = (entry: SourceEntry): SourceChild[] => {
    const dir = lookup(view, entry.rel);
    if (!dir?.stat.isDirectory()) return [];
    const out: SourceChild[] = [];
    for (const [name, child] of readMergedDir(view, entry.rel, dir)) {
      out.push({ rel: entry.rel ? `${entry.rel}/${name}` : name, hostPath: child.hostPath, stat: child.stat });
    }
    return out.sort((a, b) => byBytes(a.rel, b.rel));
  };
  const walkFrom = (entry: SourceEntry, out: SourceEntry[]): void => {
    out.push(entry);
    if (entry.stat.isDirectory()) for (const child of children(entry)) walkFrom(child, out);
  };
  return {
    describe,
    resolve(rel) {
      const resolved = resolvedOrNone(view, rel);
      if (resolved === undefined) return undefined;
      const entry = lookup(view, resolved);
      return entry ? { rel: resolved, hostPath: entry.hostPath, stat: entry.stat } : undefined;
    },
    names(rel) {
      const entry = this.resolve(rel);
      return entry?.stat.isDirectory() ? children(entry).map((c) => path.posix.basename(c.rel)) : [];
    },
    children,
    walk(entry) {
      const out: SourceEntry[] = [];
      walkFrom(entry, out);
      return out;
    },
  };
}

/** Normalises a COPY source word to a root-relative path (`..` never leaves the root). */
export function cleanSourcePath(word: string): string {
  return path.posix.normalize(path.posix.join('/', word)).slice(1).replace(/\/$/, '');
}

/** A wildcard source that names a missing directory before its first wildcard. */
export class WildcardBaseError extends Error {}

/**
 * Expands a source word with Go filepath.Match wildcards the way BuildKit does: the part before
 * the first segment with a wildcard is resolved (symlinks followed); below it, entries are
 * walked without following symlinks and matched on their whole relative path, and a matching
 * directory is taken whole (not searched further). Matches come back sorted; none is not an error.
 */
export function expandSource(tree: SourceTree, word: string): string[] {
  const clean = cleanSourcePath(word);
  const segments = clean.split('/').filter(Boolean);
  const first = segments.findIndex((s) => hasGlobMeta(s));
  if (first < 0) return [clean];
  const prefix = segments.slice(0, first).join('/');
  const pattern = segments.slice(first).join('/');
  const depth = segments.length - first;
  const base = tree.resolve(prefix);
  if (!base) throw new WildcardBaseError(`/${prefix}: no such file or directory`);
  const out: string[] = [];
  const visit = (dir: SourceEntry, relDepth: number): void => {
    for (const child of tree.children(dir)) {
      const sub = path.posix.relative(base.rel, child.rel);
      let matched = false;
      try {
        matched = globMatch(pattern, sub);
      } catch {
        matched = false;
      }
      if (matched) out.push(child.rel);
      else if (child.stat.isDirectory() && relDepth + 1 < depth) visit(child, relDepth + 1);
    }
  };
  if (base.stat.isDirectory()) visit(base, 0);
  return out;
}
