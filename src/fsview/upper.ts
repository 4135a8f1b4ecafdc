import { chmodSync, copyFileSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, renameSync, rmSync, symlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { S_IFBLK, S_IFCHR, S_IFIFO, fsExtra, lstatOrUndefined } from '../sys/fsx.ts';
import { lookup, lowerHasDir, type MergedView } from './merged.ts';
import { overlayXattr } from '../layer/overlay-format.ts';

/**
 * Writes into the top layer (the upper dir) of a merged view, the way overlayfs would: a directory
 * that exists only below is first copied up with its metadata, so the layer diff lists it exactly
 * as a kernel copy-up would. A directory made where a lower layer's directory is hidden (by a file
 * this step wrote) is marked opaque, so the lower contents stay hidden.
 */
export interface Owner { uid: number; gid: number }

export interface EntryMeta { uid: number; gid: number; mode: number }

/** A copy that cannot go ahead, with the message BuildKit gives for it. */
export class CopyConflictError extends Error {
  readonly code = 'ECOPYCONFLICT';
}


export function upperPath(view: MergedView, rel: string): string {
  return path.join(view.layers[0], rel);
}

function splitRel(rel: string): string[] {
  return rel.split('/').filter((c) => c !== '' && c !== '.');
}

function copyUpDir(view: MergedView, rel: string, stat: Stats): void {
  const dest = upperPath(view, rel);
  mkdirSync(dest);
  lchownSync(dest, stat.uid, stat.gid);
  chmodSync(dest, stat.mode & 0o7777);
  lutimesSync(dest, stat.atime, stat.mtime);
  (view.upperDirs ??= new Set()).add(rel);
}

function parentOf(rel: string): string {
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? '' : rel.slice(0, slash);
}

/** Forgets what the caches know about `rel` and everything below it (it was just removed). */
function forgetUnder(view: MergedView, rel: string): void {
  for (const set of [view.upperDirs, view.freshDirs, view.upperFiles]) {
    if (!set) continue;
    set.delete(rel);
    for (const dir of set) if (dir.startsWith(`${rel}/`)) set.delete(dir);
  }
}

/** True when `rel` lies in a directory this step made fresh: the upper dir alone decides it. */
function underFreshDir(view: MergedView, rel: string): boolean {
  const fresh = view.freshDirs;
  if (!fresh?.size) return false;
  for (let dir = parentOf(rel); ; dir = parentOf(dir)) {
    if (fresh.has(dir)) return true;
    if (dir === '') return false;
  }
}

/** Makes every ancestor of `rel` (already symlink-resolved) a directory in the upper dir. */
export function copyUpParents(view: MergedView, rel: string): void {
  const parent = parentOf(rel);
  // Siblings share parents: once a parent is known to be in the upper dir, so are its ancestors.
  if (parent === '' || view.upperDirs?.has(parent)) return;
  const names = splitRel(rel);
  let sofar = '';
  for (const name of names.slice(0, -1)) {
    sofar = sofar ? `${sofar}/${name}` : name;
    if (view.upperDirs?.has(sofar)) continue;
    const entry = lookup(view, sofar);
    if (!entry?.stat.isDirectory()) throw Object.assign(new Error(`/${sofar}: not a directory`), { code: 'ENOTDIR' });
    if (entry.dirLayers[0] !== 0) copyUpDir(view, sofar, entry.stat);
    else (view.upperDirs ??= new Set()).add(sofar);
  }
}

/** The entry at `rel` as a write sees it: the upper dir alone below a fresh directory. */
function existingAt(view: MergedView, rel: string): { isDirectory: boolean; inUpper: boolean } | undefined {
  if (underFreshDir(view, rel)) {
    // Only this step wrote below a fresh directory, and every write is recorded: no syscall.
    if (view.upperDirs?.has(rel)) return { isDirectory: true, inUpper: true };
    if (view.upperFiles?.has(rel)) return { isDirectory: false, inUpper: true };
    return undefined;
  }
  const entry = lookup(view, rel);
  return entry && { isDirectory: entry.stat.isDirectory(), inUpper: entry.dirLayers[0] === 0 };
}

/**
 * Makes directory `rel` (root-relative, already symlink-resolved) exist in the merged view with all
 * its parents in the upper dir; new ones get mode 0755 and `owner`. Throws ENOTDIR when a file is
 * in the way.
 */
export function ensureDir(view: MergedView, rel: string, owner: Owner, options: { onlyIfMissing?: boolean } = {}): void {
  const names = splitRel(rel);
  // WORKDIR on an existing directory leaves the layer untouched; writers need it copied up.
  if (options.onlyIfMissing && lookup(view, names.join('/'))?.stat.isDirectory()) return;
  let sofar = '';
  for (const name of names) {
    sofar = sofar ? `${sofar}/${name}` : name;
    const entry = lookup(view, sofar);
    if (entry?.stat.isDirectory()) {
      if (entry.dirLayers[0] !== 0) copyUpDir(view, sofar, entry.stat);
      continue;
    }
    if (entry) throw Object.assign(new Error(`cannot create directory /${sofar}: a file is in the way`), { code: 'ENOTDIR' });
    const dest = makeUpperDir(view, sofar);
    lchownSync(dest, owner.uid, owner.gid);
    chmodSync(dest, 0o755);
  }
}

/** mkdir in the upper dir, opaque when it takes the place of a lower directory hidden by this step. */
function makeUpperDir(view: MergedView, rel: string): string {
  const dest = upperPath(view, rel);
  const fresh = underFreshDir(view, rel);
  const known = view.upperDirs?.has(rel) || view.upperFiles?.has(rel);
  if (!fresh || known) rmSync(dest, { recursive: true, force: true });
  if (known) forgetUnder(view, rel);
  mkdirSync(dest);
  // Opaque or with nothing below: either way no lower layer shows through it.
  if (fresh || !lowerHasDir(view, rel)) (view.freshDirs ??= new Set()).add(rel);
  else {
    fsExtra().lsetxattr(dest, overlayXattr('opaque'), Buffer.from('y'));
    (view.freshDirs ??= new Set()).add(rel);
  }
  (view.upperDirs ??= new Set()).add(rel);
  return dest;
}

/**
 * Prepares `rel` for a directory: an existing directory is copied up (created: false), anything
 * else is replaced by a new empty directory (created: true). With `replaceNonDir` false, a non-directory
 * in the way is a CopyConflictError instead.
 */
export function dirSlot(view: MergedView, rel: string, replaceNonDir: boolean): { hostPath: string; created: boolean } {
  copyUpParents(view, rel);
  const existing = existingAt(view, rel);
  if (existing?.isDirectory) {
    if (!existing.inUpper) {
      const below = lookup(view, rel)!;
      copyUpDir(view, rel, below.stat);
    }
    (view.upperDirs ??= new Set()).add(rel);
    return { hostPath: upperPath(view, rel), created: false };
  }
  if (existing && !replaceNonDir) throw new CopyConflictError(`cannot copy to non-directory: /${rel}`);
  return { hostPath: makeUpperDir(view, rel), created: true };
}

/**
 * Prepares `rel` for a non-directory: whatever the upper dir holds there is removed (a lower entry
 * is hidden by what the caller writes). An existing directory is a CopyConflictError unless
 * `replaceDir` (tar extraction replaces, COPY refuses).
 */
export function fileSlot(view: MergedView, rel: string, replaceDir: boolean): string {
  copyUpParents(view, rel);
  const existing = existingAt(view, rel);
  if (existing?.isDirectory && !replaceDir) throw new CopyConflictError(`cannot replace to directory /${rel} with file`);
  const dest = upperPath(view, rel);
  // Below a fresh directory the upper dir is the whole truth; elsewhere it may also hold a
  // whiteout that lookups report as absent, so clear the slot either way.
  if (existing?.inUpper || !underFreshDir(view, rel)) {
    rmSync(dest, { recursive: true, force: true });
    if (existing?.isDirectory) forgetUnder(view, rel);
  }
  (view.upperFiles ??= new Set()).add(rel);
  return dest;
}

/**
 * Moves a whole directory tree (a rebuild's donor, src/copy/reuse.ts) to `rel`, which must
 * be a name nothing uses, in the upper dir (not even a whiteout) or below: where a new directory
 * would be made fresh. `dirs` and `files` list what it holds (root-relative), so the view's caches
 * stay the whole truth. Returns false, changing nothing, when `rel` is not such a slot or `from`
 * is gone.
 */
export function adoptDir(view: MergedView, rel: string, from: string, inside: { dirs: string[]; files: string[] }): boolean {
  try {
    if (!lstatSync(from).isDirectory()) return false;
  } catch {
    return false;
  }
  if (underFreshDir(view, rel)) {
    if (view.upperDirs?.has(rel) || view.upperFiles?.has(rel)) return false;
  } else {
    if (lookup(view, rel) || lstatOrUndefined(upperPath(view, rel))) return false;
    copyUpParents(view, rel);
  }
  try {
    renameSync(from, upperPath(view, rel));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') return false;
    throw error;
  }
  const upperDirs = (view.upperDirs ??= new Set());
  const freshDirs = (view.freshDirs ??= new Set());
  const upperFiles = (view.upperFiles ??= new Set());
  for (const dir of [rel, ...inside.dirs]) {
    upperDirs.add(dir);
    freshDirs.add(dir);
  }
  for (const file of inside.files) upperFiles.add(file);
  return true;
}

/** Sets owner, mode (not on symlinks) and times of an entry in the upper dir. */
export function setMeta(hostPath: string, meta: EntryMeta, stat: Pick<Stats, 'atime' | 'mtime'> | undefined, isSymlink: boolean): void {
  lchownSync(hostPath, meta.uid, meta.gid);
  // chown clears setuid/setgid, so the mode goes on after it.
  if (!isSymlink) chmodSync(hostPath, meta.mode & 0o7777);
  if (stat) lutimesSync(hostPath, stat.atime, stat.mtime);
}

/** What to write: a source entry (its host copy is read) and, for symlinks, its target. */
export interface EntrySource { hostPath: string; stat: Stats; linkTarget?: string }

/** Moves an identical file (a rebuild's donor, src/copy/reuse.ts) into place; false if it is gone. */
function moveInto(from: string, dest: string): boolean {
  try {
    renameSync(from, dest);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return false;
    throw error;
  }
}

/**
 * Writes one non-directory entry at `rel` in the upper dir: a copy of a regular file, a symlink, a
 * device or a fifo; or, with `hardlinkTo`, a hard link to an entry this step already wrote. With
 * `moveFrom`, a regular file is moved from there instead (the caller vouches that it has the
 * content and metadata this write would give); returns true when that happened.
 */
export function writeNonDir(
  view: MergedView, rel: string, source: EntrySource, meta: EntryMeta,
  options: { hardlinkTo?: string; replaceDir?: boolean; times?: Pick<Stats, 'atime' | 'mtime'>; moveFrom?: string } = {},
): boolean {
  const dest = fileSlot(view, rel, options.replaceDir ?? false);
  const stat = source.stat;
  if (options.hardlinkTo !== undefined) {
    linkSync(upperPath(view, options.hardlinkTo), dest);
  } else if (stat.isSymbolicLink()) {
    symlinkSync(source.linkTarget ?? '', dest);
  } else if (stat.isFile()) {
    if (options.moveFrom !== undefined && moveInto(options.moveFrom, dest)) return true;
    copyFileSync(source.hostPath, dest);
    // libuv's copyfile gives the copy the source's owner and mode: only what differs is set.
    if (meta.uid === stat.uid && meta.gid === stat.gid && meta.mode === (stat.mode & 0o7777) && (meta.mode & 0o7000) === 0) {
      const times = options.times ?? stat;
      lutimesSync(dest, times.atime, times.mtime);
      return false;
    }
  } else if (stat.isCharacterDevice() || stat.isBlockDevice() || stat.isFIFO()) {
    const type = stat.isCharacterDevice() ? S_IFCHR : stat.isBlockDevice() ? S_IFBLK : S_IFIFO;
    const rdev = BigInt(stat.rdev);
    const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
    const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
    fsExtra().mknod(dest, type | (stat.mode & 0o777), major, minor);
  } else {
    throw Object.assign(new Error(`unsupported file type at ${source.hostPath}`), { code: 'EINVAL' });
  }
  setMeta(dest, meta, options.times ?? stat, stat.isSymbolicLink());
  return false;
}

/** Sets a directory's times after its contents were written (writing children changes mtime). */
export function finishDir(view: MergedView, rel: string, stat: Pick<Stats, 'atime' | 'mtime'>): void {
  const hostPath = upperPath(view, rel);
  try {
    if (lstatSync(hostPath).isDirectory()) lutimesSync(hostPath, stat.atime, stat.mtime);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
