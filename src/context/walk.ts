import { createHash } from 'node:crypto';
import path from 'node:path';
import { lstatWalkStats, readdirWalkStats, WalkStats, type StatChunk } from './stats.ts';

/** What the walker needs from .dockerignore: whether a path is excluded, and whether a skipped
 * directory could still hold re-included paths (an exception pattern below it). */
export interface ContextFilter {
  excluded(rel: string): boolean;
  /** True when an excluded directory must still be entered because exceptions may match below. */
  mustDescend(rel: string): boolean;
}

export const NO_FILTER: ContextFilter = { excluded: () => false, mustDescend: () => false };

export interface ContextEntry {
  /** Path relative to the context root, `/`-separated, no leading `./`. */
  rel: string;
  /** Where it is on the host: `path.join(root, rel)`. */
  hostPath: string;
  stat: WalkStats;
}

/** A context walked once, answering both ways of looking at it. */
export interface ContextScan {
  /** The entries as walkContext lists them; built on the first call. */
  entries(): ContextEntry[];
  /**
   * A hash of every entry's path and stat data (device, inode, mode, owner, size, mtime and ctime
   * in ns), and the newest ctime (ms) among them: what the stat cache keys a whole source by.
   */
  fingerprint(): { print: string; newestCtimeMs: number };
}

/**
 * One directory the walk read, and what became of each of its entries. The first one is the start
 * itself (a chunk of one); every DESCENDED entry has its own record later on, in walk order.
 */
interface WalkedDir {
  chunk: StatChunk;
  /** The entries' paths in the context. */
  names: string[];
  /** Per entry: LISTED, DESCENDED, both, or 0 when the filter leaves it out. */
  marks: Uint8Array;
}

const LISTED = 1;
const DESCENDED = 2;

/**
 * Entries at or below `startRel` in the context (sorted, parents before children), after the
 * filter. An excluded directory is kept out, but entered when exceptions may re-include children
 * (then the directory itself is listed too, as Docker sends it).
 */
export function walkContext(root: string, filter: ContextFilter, startRel = ''): ContextEntry[] {
  return scanContext(root, filter, startRel).entries();
}

/**
 * Walks as walkContext does, one native call per directory (which lists and stats its entries,
 * sorted as JavaScript's default sort orders the names), but keeps only what each call returned
 * and a mark per entry. A no-op build needs nothing more: its fingerprint hashes whole
 * directories at a time, and the 20,000 entry objects of a large context, which the garbage
 * collector would copy around while they live, are made only when something changed.
 */
export function scanContext(root: string, filter: ContextFilter, startRel = ''): ContextScan {
  // A host path is `base` + rel: path.join's result (rel's parts are names, never '', '.' or '..',
  // so there is nothing to normalise) without calling path.join for every entry. Going through
  // path.join(root, 'x') minus the 'x' gets '.', '/' and trailing slashes right.
  const base = path.join(root, 'x').slice(0, -1);
  const startHost = path.join(root, startRel);
  const dirs: WalkedDir[] = [];
  let listed = 0;

  const visitDir = (rel: string, hostPath: string): void => {
    const { names, chunk } = readdirWalkStats(hostPath, rel === '' ? '' : `${rel}/`);
    const marks = new Uint8Array(names.length);
    dirs.push({ chunk, names, marks });
    for (let i = 0; i < names.length; i++) marks[i] = visit(names[i], chunk, i);
  };
  // `hostPath` only for the start: other directories' are made here, and files' not at all.
  const visit = (rel: string, chunk: StatChunk, index: number, hostPath?: string): number => {
    const isExcluded = rel !== '' && filter.excluded(rel);
    if (!chunk.isDirectory(index)) {
      if (isExcluded) return 0;
      listed++;
      return LISTED;
    }
    if (isExcluded && !filter.mustDescend(rel)) return 0;
    const before = listed;
    visitDir(rel, hostPath ?? base + rel);
    // The context root is never an entry; an excluded directory entered only for its exceptions
    // is left out when nothing came back.
    if (rel === '' || (isExcluded && listed === before)) return DESCENDED;
    listed++;
    return LISTED | DESCENDED;
  };
  const start: WalkedDir = { chunk: lstatWalkStats(startHost, startRel).chunk, names: [startRel], marks: new Uint8Array(1) };
  dirs.push(start);
  start.marks[0] = visit(startRel, start.chunk, 0, startHost);

  let entries: ContextEntry[] | undefined;
  return {
    entries: () => (entries ??= entriesOf(dirs, startHost, base)),
    fingerprint: () => fingerprintOf(dirs),
  };
}

/** The entries a scan kept, as walkContext returns them. */
function entriesOf(dirs: readonly WalkedDir[], startHost: string, base: string): ContextEntry[] {
  const out: ContextEntry[] = [];
  let next = 0;
  // Records were made in walk order, so each descended entry's is the next one not yet used.
  const emit = (): void => {
    const isStart = next === 0;
    const { chunk, names, marks } = dirs[next++];
    for (let i = 0; i < names.length; i++) {
      if (marks[i] & LISTED) {
        out.push({ rel: names[i], hostPath: isStart ? startHost : base + names[i], stat: new WalkStats(chunk, i) });
      }
      if (marks[i] & DESCENDED) emit();
    }
  };
  emit();
  return out;
}

/**
 * A directory whose entries are all listed goes in whole: its paths and the packed front slots of
 * its records, two calls. Only directories .dockerignore thinned out go entry by entry. Paths hold
 * no NUL and counts fix the lengths, so the stream reads back one way only.
 */
function fingerprintOf(dirs: readonly WalkedDir[]): { print: string; newestCtimeMs: number } {
  const hash = createHash('sha256');
  let newestCtimeMs = 0;
  for (const { chunk, names, marks } of dirs) {
    let whole = true;
    for (let i = 0; i < marks.length && whole; i++) whole = (marks[i] & LISTED) !== 0;
    if (whole) {
      hash.update(`D${names.length}\0${chunk.names}\0`).update(chunk.front());
      newestCtimeMs = Math.max(newestCtimeMs, chunk.newestCtimeMs());
      continue;
    }
    for (let i = 0; i < names.length; i++) {
      if ((marks[i] & LISTED) === 0) continue;
      hash.update(`E${names[i]}\0`).update(chunk.front(i));
      newestCtimeMs = Math.max(newestCtimeMs, chunk.ctimeMs(i));
    }
  }
  return { print: hash.digest('hex'), newestCtimeMs };
}
