/**
 * The overlay view without a mount: reading (whiteouts, opaque dirs, in-root symlink resolution)
 * and writing into the upper dir with copy-up semantics. Needs root (mknod, chown, trusted.* xattrs).
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lookup, lowerHasDir, readMergedDir, resolveInRoot, type MergedView } from '../../src/fsview/merged.ts';
import { CopyConflictError, dirSlot, ensureDir, fileSlot, writeNonDir } from '../../src/fsview/upper.ts';
import { S_IFCHR, fsExtra } from '../../src/sys/fsx.ts';

let dir: string;
let top: string;
let bottom: string;
let view: MergedView;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-merged-'));
  top = path.join(dir, 'top');
  bottom = path.join(dir, 'bottom');
  mkdirSync(top);
  mkdirSync(bottom);
  view = { layers: [top, bottom] };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function put(layer: string, rel: string, text = 'x'): void {
  mkdirSync(path.dirname(path.join(layer, rel)), { recursive: true });
  writeFileSync(path.join(layer, rel), text);
}

describe('lookup and readMergedDir', () => {
  it('merges directories, hides whiteouts and what is under opaque directories', () => {
    put(bottom, 'd/a');
    put(bottom, 'd/gone');
    put(bottom, 'o/old');
    put(top, 'd/b');
    fsExtra().mknod(path.join(top, 'd/gone'), S_IFCHR, 0, 0);
    mkdirSync(path.join(top, 'o'));
    fsExtra().lsetxattr(path.join(top, 'o'), 'trusted.overlay.opaque', Buffer.from('y'));
    put(top, 'o/new');
    const d = lookup(view, 'd')!;
    expect([...readMergedDir(view, 'd', d).keys()]).toEqual(['a', 'b']);
    expect(lookup(view, 'd/gone')).toBeUndefined();
    expect([...readMergedDir(view, 'o', lookup(view, 'o')!).keys()]).toEqual(['new']);
    expect(lowerHasDir(view, 'o')).toBe(true);
    expect(lowerHasDir(view, 'd/a')).toBe(false);
  });

  it('does not look through a symlink on the way', () => {
    put(bottom, 'real/f');
    symlinkSync('real', path.join(bottom, 'link'));
    expect(lookup(view, 'link/f')).toBeUndefined();
    expect(lookup(view, 'link')?.stat.isSymbolicLink()).toBe(true);
  });
});

describe('resolveInRoot', () => {
  it('follows symlinks inside the root only', () => {
    put(bottom, 'etc/passwd');
    mkdirSync(path.join(bottom, 'opt/app'), { recursive: true });
    symlinkSync('/etc', path.join(bottom, 'opt/app/etc-abs'));
    symlinkSync('../../../../etc/passwd', path.join(bottom, 'opt/app/escape'));
    expect(resolveInRoot(view, 'opt/app/etc-abs/passwd', true)).toBe('etc/passwd');
    expect(resolveInRoot(view, 'opt/app/escape', true)).toBe('etc/passwd');
    expect(resolveInRoot(view, 'opt/app/escape', false)).toBe('opt/app/escape');
    expect(resolveInRoot(view, '../../etc', true)).toBe('etc');
  });

  it('treats a base directory as the root, as a chrooted tar -x would', () => {
    mkdirSync(path.join(bottom, 'dst/real'), { recursive: true });
    symlinkSync('/real', path.join(bottom, 'dst/abs'));
    symlinkSync('../../..', path.join(bottom, 'dst/up'));
    expect(resolveInRoot(view, 'abs/f', true, 'dst')).toBe('dst/real/f');
    expect(resolveInRoot(view, 'up/x', true, 'dst')).toBe('dst/x');
    expect(resolveInRoot(view, '../../x', true, 'dst')).toBe('dst/x');
  });

  it('stops at symlink loops', () => {
    symlinkSync('b', path.join(bottom, 'a'));
    symlinkSync('a', path.join(bottom, 'b'));
    expect(() => resolveInRoot(view, 'a/x', true)).toThrow(/too many levels/);
  });
});

describe('upper dir writes', () => {
  let upper: string;
  let lower: string;
  beforeEach(() => {
    upper = top;
    lower = bottom;
  });

  it('copies lower parents up with their metadata and makes new ones 0755 for the owner', () => {
    mkdirSync(path.join(lower, 'a'));
    chmodSync(path.join(lower, 'a'), 0o1777);
    chownSync(path.join(lower, 'a'), 5, 6);
    ensureDir(view, 'a/b/c', { uid: 1000, gid: 1000 });
    expect(lstatSync(path.join(upper, 'a')).mode & 0o7777).toBe(0o1777);
    expect(lstatSync(path.join(upper, 'a')).uid).toBe(5);
    expect(lstatSync(path.join(upper, 'a/b/c')).mode & 0o7777).toBe(0o755);
    expect(lstatSync(path.join(upper, 'a/b')).uid).toBe(1000);
  });

  it('refuses to make a directory through a file', () => {
    writeFileSync(path.join(lower, 'f'), 'x');
    expect(() => ensureDir(view, 'f/d', { uid: 0, gid: 0 })).toThrow(/a file is in the way/);
    expect(() => dirSlot(view, 'f', false)).toThrow(CopyConflictError);
  });

  it('refuses a file over a directory unless asked to replace it', () => {
    mkdirSync(path.join(lower, 'd'));
    expect(() => fileSlot(view, 'd', false)).toThrow(/cannot replace to directory \/d with file/);
    const slot = fileSlot(view, 'd', true);
    writeFileSync(slot, 'now a file');
    expect(readFileSync(path.join(upper, 'd'), 'utf8')).toBe('now a file');
  });

  it('marks a directory opaque when it replaces a lower directory hidden in this layer', () => {
    mkdirSync(path.join(lower, 'x'));
    writeFileSync(path.join(lower, 'x/old'), 'old');
    writeFileSync(path.join(upper, 'x'), 'hiding file');
    const { created } = dirSlot(view, 'x', true);
    expect(created).toBe(true);
    expect(fsExtra().lgetxattr(path.join(upper, 'x'), 'trusted.overlay.opaque')?.toString()).toBe('y');
  });

  it('writes hardlinks to entries of this layer', () => {
    writeFileSync(path.join(dir, 'src'), 'content');
    const stat = lstatSync(path.join(dir, 'src'));
    writeNonDir(view, 'one', { hostPath: path.join(dir, 'src'), stat }, { uid: 0, gid: 0, mode: 0o600 });
    writeNonDir(view, 'two', { hostPath: path.join(dir, 'src'), stat }, { uid: 0, gid: 0, mode: 0o600 }, { hardlinkTo: 'one' });
    expect(lstatSync(path.join(upper, 'two')).ino).toBe(lstatSync(path.join(upper, 'one')).ino);
    expect(lstatSync(path.join(upper, 'two')).mode & 0o777).toBe(0o600);
  });
});
