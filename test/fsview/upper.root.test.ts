/** Writing into an overlay upper dir with copy-up semantics. Needs root (chown, trusted.* xattrs). */
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CopyConflictError, dirSlot, ensureDir, fileSlot, writeNonDir } from '../../src/fsview/upper.ts';
import type { MergedView } from '../../src/fsview/merged.ts';
import { fsExtra } from '../../src/sys/fsx.ts';

let dir: string;
let upper: string;
let lower: string;
let view: MergedView;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-upper-'));
  upper = path.join(dir, 'upper');
  lower = path.join(dir, 'lower');
  mkdirSync(upper);
  mkdirSync(lower);
  view = { layers: [upper, lower] };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('upper dir writes', () => {
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
