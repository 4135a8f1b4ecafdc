import { lstatSync, readdirSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { lookup, type MergedView } from '../fsview/merged.ts';
import { fsExtra } from '../sys/fsx.ts';
import { overlayXattr } from '../layer/overlay-format.ts';

/**
 * Removes directories that a step's upper dir holds only because overlayfs copied them up (a
 * mount point stub was made and removed again, or a file was created and deleted): empty, not
 * opaque, and with the same mode, owner and mtime as the directory below. BuildKit's differ
 * compares against the lower layers and skips these too, so an empty `RUN true` is an empty layer.
 */
export function pruneNoopDirs(upperDir: string, lowerDirs: readonly string[]): void {
  const lowerView: MergedView = { layers: lowerDirs };
  const visit = (rel: string): boolean => {
    const abs = path.join(upperDir, rel);
    let empty = true;
    // The entry types from readdir spare an lstat per file: only directories are looked into.
    for (const dirent of readdirSync(abs, { withFileTypes: true })) {
      const childRel = rel ? `${rel}/${dirent.name}` : dirent.name;
      if (!dirent.isDirectory() || !visit(childRel)) empty = false;
    }
    if (rel === '' || !empty) return false;
    const opaque = fsExtra().lgetxattr(abs, overlayXattr('opaque'));
    if (opaque !== null && opaque.toString() === 'y') return false;
    const below = lowerDirs.length ? lookup(lowerView, rel) : undefined;
    const mine = lstatSync(abs);
    if (!below?.stat.isDirectory()) return false;
    const same = below.stat.mode === mine.mode && below.stat.uid === mine.uid && below.stat.gid === mine.gid
      && Math.floor(below.stat.mtimeMs / 1000) === Math.floor(mine.mtimeMs / 1000);
    if (!same) return false;
    rmdirSync(abs);
    return true;
  };
  visit('');
}
