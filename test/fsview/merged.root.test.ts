/** The overlay read view without a mount: whiteouts, opaque dirs, in-root symlink resolution. Needs root (mknod, trusted.* xattrs). */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lookup, lowerHasDir, readMergedDir, resolveInRoot, type MergedView } from '../../src/fsview/merged.ts';
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
