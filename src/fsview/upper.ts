import { chmodSync, copyFileSync, lchownSync, lutimesSync, mkdirSync, rmSync, symlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { lookup, type MergedView } from './merged.ts';

/**
 * Writes into the top layer (the upper dir) of a merged view, the way overlayfs would: a directory
 * that exists only below is first copied up with its metadata, so the layer diff lists it exactly
 * as a kernel copy-up would.
 */
export interface Owner { uid: number; gid: number }

function upperPath(view: MergedView, rel: string): string {
  return path.join(view.layers[0], rel);
}

function copyUpDir(view: MergedView, rel: string, stat: Stats): void {
  const dest = upperPath(view, rel);
  mkdirSync(dest);
  lchownSync(dest, stat.uid, stat.gid);
  chmodSync(dest, stat.mode & 0o7777);
  lutimesSync(dest, stat.atime, stat.mtime);
}

/**
 * Makes directory `rel` (root-relative, already symlink-resolved) exist in the merged view with all
 * its parents in the upper dir; new ones get mode 0755 and `owner`. Throws ENOTDIR when a file is in the way.
 */
export function ensureDir(view: MergedView, rel: string, owner: Owner, options: { onlyIfMissing?: boolean } = {}): void {
  const names = rel.split('/').filter(Boolean);
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
    if (entry && entry.dirLayers[0] === 0) rmSync(upperPath(view, sofar), { recursive: true, force: true });
    else if (entry) throw Object.assign(new Error(`cannot create directory /${sofar}: a file is in the way`), { code: 'ENOTDIR' });
    const dest = upperPath(view, sofar);
    mkdirSync(dest);
    lchownSync(dest, owner.uid, owner.gid);
    chmodSync(dest, 0o755);
  }
}

export interface EntryMeta { uid: number; gid: number; mode: number }

/** Removes whatever the upper layer has at `rel` so a new entry of another type can take its place. */
function clearUpper(view: MergedView, rel: string, keepDir: boolean): void {
  const entry = lookup(view, rel);
  if (!entry || entry.dirLayers[0] !== 0) return;
  if (keepDir && entry.stat.isDirectory()) return;
  rmSync(upperPath(view, rel), { recursive: true, force: true });
}

/** Copies one file, symlink or directory (not its contents) from `source` to `rel` in the upper. */
export function writeEntry(view: MergedView, rel: string, source: { hostPath: string; stat: Stats; linkTarget?: string }, meta: EntryMeta): void {
  const dest = upperPath(view, rel);
  const stat = source.stat;
  if (stat.isDirectory()) {
    const existing = lookup(view, rel);
    if (existing?.stat.isDirectory()) {
      if (existing.dirLayers[0] !== 0) copyUpDir(view, rel, existing.stat);
    } else {
      clearUpper(view, rel, false);
      mkdirSync(dest);
    }
    lchownSync(dest, meta.uid, meta.gid);
    chmodSync(dest, meta.mode);
    return;
  }
  clearUpper(view, rel, false);
  if (stat.isSymbolicLink()) {
    symlinkSync(source.linkTarget ?? '', dest);
    lchownSync(dest, meta.uid, meta.gid);
    lutimesSync(dest, stat.atime, stat.mtime);
    return;
  }
  if (!stat.isFile()) throw Object.assign(new Error(`unsupported file type at ${source.hostPath}`), { code: 'EINVAL' });
  copyFileSync(source.hostPath, dest);
  lchownSync(dest, meta.uid, meta.gid);
  chmodSync(dest, meta.mode);
  lutimesSync(dest, stat.atime, stat.mtime);
}

/** Sets a directory's times after its contents were written (writing children changes mtime). */
export function finishDir(view: MergedView, rel: string, stat: Stats): void {
  lutimesSync(upperPath(view, rel), stat.atime, stat.mtime);
}
