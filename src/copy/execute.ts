import { readlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { globMatch } from '../context/glob.ts';
import { compileIgnore, type IgnoreMatcher } from '../context/dockerignore.ts';
import { BuildError, type SourceRange } from '../source/index.ts';
import type { CopyOp } from '../plan/index.ts';
import { lookup, resolveInRoot, type MergedView } from '../fsview/merged.ts';
import { adoptDir, dirSlot, ensureDir, finishDir, setMeta, writeNonDir, type EntryMeta, type Owner } from '../fsview/upper.ts';
import { fsExtra } from '../sys/fsx.ts';
import { extractArchive, isArchive } from './archive.ts';
import { forgetTarget, noteWrite, reusableFile, reusableTree, type CopyReuse } from './reuse.ts';
import { excludeMatcher, matchName, mayMatchBelow, type Match } from './match.ts';
import type { SourceChild, SourceTree } from './source-tree.ts';
import { isOverlayXattr } from '../layer/overlay-format.ts';

export { matchSources, type Match } from './match.ts';

/**
 * COPY and ADD into a step's upper dir with BuildKit's rules (its file op over fsutil's copier):
 * the destination's parents are made like `mkdir -p` (0755, the --chown owner); a file goes into
 * an existing directory, else becomes the destination; a directory's contents are merged into the
 * destination, existing subdirectories taking the source's metadata; a file never replaces a
 * directory nor a directory a file; hardlinks within one source stay hardlinks; files from the
 * context belong to root unless --chown, files from a stage or image keep their owners. ADD
 * extracts local archives (and, with --unpack, downloaded ones) instead of copying them.
 */
export interface CopyContext {
  op: CopyOp;
  tree: SourceTree;
  /** Destination: the step's upper dir on top of the parent's layers. */
  view: MergedView;
  owner?: Owner;
  /** Turns a source mode into the destination mode (for --chmod); identity without it. */
  chmod?: ChmodFn;
  range: SourceRange;
  /** Set when unchanged files may be moved from the step's previous snapshot (copy-reuse.ts). */
  reuse?: CopyReuse;
}

/** State of one copy of one source (BuildKit makes a new copier per source). */
interface Copier {
  ctx: CopyContext;
  view: MergedView;
  keepOwners: boolean;
  include?: IgnoreMatcher;
  includePatterns?: string[];
  exclude?: IgnoreMatcher;
  /** Source inode -> destination path of its first copy. */
  inodes: Map<string, string>;
  /** Directories waiting to be made until something below them is copied (--parents, exceptions). */
  pending: Array<{ src: SourceChild; target: string; made: boolean }>;
  /** Directories whose times are set once their contents are in. */
  dirTimes: Array<{ rel: string; stat: Stats }>;
}

function fail(ctx: CopyContext, message: string): never {
  throw new BuildError(message, ctx.range);
}

function metaFor(c: Copier, stat: Stats, modeOverride?: number): EntryMeta {
  const owner = c.ctx.owner ?? (c.keepOwners ? { uid: stat.uid, gid: stat.gid } : { uid: 0, gid: 0 });
  const mode = modeOverride ?? stat.mode & 0o7777;
  return { uid: owner.uid, gid: owner.gid, mode: c.ctx.chmod ? c.ctx.chmod(mode, stat.isDirectory()) : mode };
}

/** Extended attributes travel with the file (overlay's own are the snapshotter's business). */
function copyXattrs(from: string, to: string): void {
  const sys = fsExtra();
  let names: string[];
  try {
    names = sys.llistxattr(from);
  } catch {
    return;
  }
  for (const name of names) {
    if (isOverlayXattr(name)) continue;
    try {
      const value = sys.lgetxattr(from, name);
      if (value !== null) sys.lsetxattr(to, name, value);
    } catch {
      // As BuildKit: an attribute the destination cannot hold is not an error.
    }
  }
}

function makePendingParents(c: Copier): void {
  for (const dir of c.pending) {
    if (dir.made) continue;
    const { hostPath, created } = dirSlot(c.view, dir.target, false);
    if (created) {
      setMeta(hostPath, metaFor(c, dir.src.stat), undefined, false);
      copyXattrs(dir.src.hostPath, hostPath);
      c.dirTimes.push({ rel: dir.target, stat: dir.src.stat });
    }
    dir.made = true;
  }
}

function writeFileLike(c: Copier, src: SourceChild, target: string, modeOverride?: number, times?: Pick<Stats, 'atime' | 'mtime'>): void {
  const stat = src.stat;
  let hardlinkTo: string | undefined;
  if (stat.isFile() && stat.nlink > 1) {
    const key = `${stat.dev}:${stat.ino}`;
    hardlinkTo = c.inodes.get(key);
    if (hardlinkTo === undefined) c.inodes.set(key, target);
  }
  const linkTarget = stat.isSymbolicLink() ? readlinkSync(src.hostPath) : undefined;
  const meta = metaFor(c, stat, modeOverride);
  // Downloads and hard links are never taken from a donor (nor recorded for the next one).
  const plainCopy = hardlinkTo === undefined && modeOverride === undefined && !times;
  let moveFrom: string | undefined;
  if (c.ctx.reuse && plainCopy) moveFrom = reusableFile(c.ctx.reuse, target, stat);
  else forgetTarget(c.ctx.reuse, target);
  const moved = writeNonDir(c.view, target, { hostPath: src.hostPath, stat, linkTarget }, meta, { hardlinkTo, times, moveFrom });
  noteWrite(c.ctx.reuse, target, moved);
  if (!moved && hardlinkTo === undefined && !stat.isSymbolicLink()) copyXattrs(src.hostPath, path.join(c.view.layers[0], target));
}

/** fsutil's copier: `comps` is the path below the copied source, '' for the source itself. */
function copyNode(c: Copier, src: SourceChild, comps: string, target: string, overwriteMeta: boolean): void {
  let included = !src.pending;
  if (comps !== '') {
    if (c.include && !c.include.matches(comps)) included = false;
    if (c.exclude?.matches(comps)) {
      // An exclusion with exceptions below may still let parts of a directory through.
      if (!src.stat.isDirectory() || !c.exclude.mayContainIncluded(comps)) return;
      included = false;
    }
  }
  if (!src.stat.isDirectory()) {
    if (!included) return;
    makePendingParents(c);
    writeFileLike(c, src, target);
    return;
  }
  if (!included) {
    if (c.includePatterns && !c.includePatterns.some((p) => mayMatchBelow(p, comps, globMatch))) return;
    const mark = c.pending.length;
    c.pending.push({ src, target, made: false });
    for (const child of c.ctx.tree.children(src)) copyNode(c, child, comps ? `${comps}/${path.posix.basename(child.rel)}` : path.posix.basename(child.rel), `${target}/${path.posix.basename(child.rel)}`, true);
    c.pending.length = mark;
    return;
  }
  makePendingParents(c);
  if (adoptFromDonor(c, src, target)) return;
  const { hostPath, created } = dirSlot(c.view, target, false);
  for (const child of c.ctx.tree.children(src)) {
    const name = path.posix.basename(child.rel);
    copyNode(c, child, comps ? `${comps}/${name}` : name, target ? `${target}/${name}` : name, true);
  }
  // A directory made here, or one merged into below the top, takes the source's metadata.
  if (created || overwriteMeta) {
    setMeta(hostPath, metaFor(c, src.stat), undefined, false);
    copyXattrs(src.hostPath, hostPath);
    c.dirTimes.push({ rel: target, stat: src.stat });
  }
}

/**
 * A rebuild moves a directory whose files are all unchanged from the step's previous snapshot in
 * one rename (copy-reuse.ts), then gives its directories their metadata as copying would.
 */
function adoptFromDonor(c: Copier, src: SourceChild, target: string): boolean {
  const reuse = c.ctx.reuse;
  if (!reuse?.donor || c.include || c.exclude || target === '') return false;
  const plan = reusableTree(reuse, c.ctx.tree, src, target);
  if (!plan) return false;
  const inside = { dirs: plan.dirs.map((d) => d.target).filter((t) => t !== target), files: [...plan.files.keys()] };
  if (!adoptDir(c.view, target, path.join(reuse.donor.dir, target), inside)) return false;
  for (const [file, signature] of plan.files) {
    reuse.written.set(file, signature);
    reuse.moved.add(file);
  }
  for (const { src: dir, target: at } of plan.dirs) {
    const hostPath = path.join(c.view.layers[0], at);
    setMeta(hostPath, metaFor(c, dir.stat), undefined, false);
    copyXattrs(dir.hostPath, hostPath);
    c.dirTimes.push({ rel: at, stat: dir.stat });
  }
  return true;
}

function newCopier(ctx: CopyContext, view: MergedView, match: Match, exclude: IgnoreMatcher | undefined): Copier {
  return {
    ctx, view, exclude,
    keepOwners: ctx.op.from.kind !== 'context',
    include: match.include ? compileIgnore(match.include) : undefined,
    includePatterns: match.include,
    inodes: new Map(), pending: [], dirTimes: [],
  };
}

interface Destination {
  /** The destination as written, cleaned, root-relative ('' for `/`). */
  clean: string;
  trailingSlash: boolean;
}

/** `mkdir -p` of the destination's parent as BuildKit's Copy does first (with the --chown owner). */
function ensureDestParent(ctx: CopyContext, view: MergedView, dest: Destination): void {
  const parent = dest.trailingSlash ? dest.clean : path.posix.dirname(dest.clean);
  if (parent === '.' || parent === '') return;
  ensureDir(view, resolveInRoot(view, parent, true), ctx.owner ?? { uid: 0, gid: 0 });
}

/** Where one source goes: into an existing directory (by its name) or to the destination itself. */
function targetFor(ctx: CopyContext, view: MergedView, dest: Destination, name: string, srcIsDir: boolean, dirContents: boolean): string {
  ensureDestParent(ctx, view, dest);
  let destRel = resolveInRoot(view, dest.clean, true);
  const existing = destRel === '' ? lookup(view, '') : lookup(view, destRel);
  if ((!dirContents && srcIsDir && existing) || (!srcIsDir && existing?.stat.isDirectory())) {
    destRel = destRel ? `${destRel}/${name}` : name;
  }
  const made = dirContents && srcIsDir && !existing ? destRel : path.posix.dirname(destRel);
  if (made !== '.' && made !== '') ensureDir(view, made, ctx.owner ?? { uid: 0, gid: 0 });
  return destRel;
}

async function copyMatch(ctx: CopyContext, view: MergedView, dest: Destination, match: Match, exclude: IgnoreMatcher | undefined): Promise<void> {
  const { op } = ctx;
  const heredoc = op.heredocs.some((h) => h.name === match.word && h.name === match.rel);
  const unpack = match.remote ? op.unpack === true : op.add && op.unpack !== false && !match.include && !heredoc;
  if (unpack && match.entry.stat.isFile() && (await isArchive(match.entry.hostPath))) {
    ensureDestParent(ctx, view, dest);
    const destRel = resolveInRoot(view, dest.clean, true);
    ensureDir(view, destRel, ctx.owner ?? { uid: 0, gid: 0 });
    await extractArchive(view, match.entry.hostPath, destRel);
    return;
  }
  const c = newCopier(ctx, view, match, exclude);
  if (match.remote) {
    // A download is one file: mode 0600 (before --chmod), time from Last-Modified.
    const target = targetFor(ctx, view, dest, match.remote.name, false, false);
    const times = match.remote.mtime ? { atime: match.remote.mtime, mtime: match.remote.mtime } : undefined;
    writeFileLike(c, match.entry, target, 0o600, times);
    return;
  }
  const srcIsDir = match.entry.stat.isDirectory();
  const target = targetFor(ctx, view, dest, matchName(match), srcIsDir, true);
  copyNode(c, match.entry, '', target, false);
  for (const { rel, stat } of c.dirTimes.reverse()) finishDir(view, rel, stat);
}

/** Runs one COPY/ADD of files into the step's upper dir with Docker's destination rules. */
export async function executeCopy(ctx: CopyContext, matches: Match[]): Promise<void> {
  const { op } = ctx;
  // --link copies into an empty tree: the destination's symlinks and directories are not looked at.
  const view: MergedView = op.link ? { layers: [ctx.view.layers[0]] } : ctx.view;
  const dest: Destination = {
    clean: path.posix.normalize(op.dest).replace(/^\/+/, '').replace(/\/+$/, '').replace(/^\.$/, ''),
    trailingSlash: op.dest.endsWith('/'),
  };
  const exclude = excludeMatcher(ctx);
  try {
    for (const match of matches) await copyMatch(ctx, view, dest, match, exclude);
  } catch (error) {
    if (error instanceof BuildError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ECOPYCONFLICT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'EARCHIVE') fail(ctx, (error as Error).message);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// --chmod

/**
 * `--chmod` for COPY and ADD: an octal mode (`755`, `0640`; at most 07777) or a symbolic one as
 * chmod(1) reads it (Dockerfile 1.14+): comma-separated clauses of `[ugoa]*` followed by one or
 * more `[-+=]` operations, each with permission letters `rwxXst` or one of `u`, `g`, `o` to copy
 * that class's bits. `X` is execute only for directories and files that are executable already;
 * with no class letter the clause applies to all (no umask, as BuildKit applies it).
 */
export type ChmodFn = (mode: number, isDir: boolean) => number;

interface Action { op: '+' | '-' | '='; perms: string; copyFrom?: 'u' | 'g' | 'o' }
interface Clause { who: string; actions: Action[] }

const CLASS_SHIFT: Record<string, number> = { u: 6, g: 3, o: 0 };

function parseSymbolic(spec: string): Clause[] | undefined {
  const clauses: Clause[] = [];
  for (const text of spec.split(',')) {
    const m = /^([ugoa]*)((?:[-+=](?:[ugo]|[rwxXst]*))+)$/.exec(text);
    if (!m) return undefined;
    const actions: Action[] = [];
    for (const part of m[2].matchAll(/([-+=])([ugo]|[rwxXst]*)/g)) {
      const perms = part[2];
      const copyFrom = perms === 'u' || perms === 'g' || perms === 'o' ? perms : undefined;
      actions.push({ op: part[1] as Action['op'], perms: copyFrom ? '' : perms, copyFrom });
    }
    clauses.push({ who: m[1], actions });
  }
  return clauses;
}

/** Applies parsed clauses to one mode (permission and special bits only). */
function applyClauses(clauses: Clause[], original: number, isDir: boolean): number {
  let mode = original & 0o7777;
  for (const { who, actions } of clauses) {
    const all = who === '' || who.includes('a');
    const classes = all ? ['u', 'g', 'o'] : ['u', 'g', 'o'].filter((c) => who.includes(c));
    for (const action of actions) {
      let rwx = 0;
      let special = 0;
      if (action.copyFrom) {
        rwx = (mode >> CLASS_SHIFT[action.copyFrom]) & 0o7;
      } else {
        for (const p of action.perms) {
          if (p === 'r') rwx |= 4;
          else if (p === 'w') rwx |= 2;
          else if (p === 'x') rwx |= 1;
          else if (p === 'X' && (isDir || (original & 0o111) !== 0)) rwx |= 1;
          else if (p === 's') special |= (classes.includes('u') ? 0o4000 : 0) | (classes.includes('g') ? 0o2000 : 0);
          else if (p === 't' && (all || classes.includes('o'))) special |= 0o1000;
        }
      }
      let bits = special;
      let mask = 0;
      for (const c of classes) {
        bits |= rwx << CLASS_SHIFT[c];
        mask |= 0o7 << CLASS_SHIFT[c];
      }
      if (classes.includes('u')) mask |= 0o4000;
      if (classes.includes('g')) mask |= 0o2000;
      if (all || classes.includes('o')) mask |= 0o1000;
      if (action.op === '+') mode |= bits;
      else if (action.op === '-') mode &= ~bits;
      else mode = (mode & ~mask) | bits;
    }
  }
  return mode;
}

/** Parses `--chmod`; a value that is neither octal nor symbolic is a BuildError at `range`. */
export function parseChmod(spec: string, range: SourceRange): ChmodFn {
  if (/^[0-9]+$/.test(spec)) {
    const value = /^[0-7]+$/.test(spec) ? parseInt(spec, 8) : NaN;
    if (!(value <= 0o7777)) {
      throw new BuildError(`invalid chmod parameter: '${spec}'. it should be octal string and between 0 and 07777`, range);
    }
    return () => value;
  }
  const clauses = parseSymbolic(spec);
  if (!clauses) {
    throw new BuildError(`invalid chmod parameter: '${spec}'. use an octal mode or a symbolic one like u+x or u=rwX,go=rX`, range);
  }
  return (mode, isDir) => applyClauses(clauses, mode, isDir);
}
