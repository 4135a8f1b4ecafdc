import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyTar, type ApplyMode } from '../../src/layer/index.ts';
import { ESCAPED, HOSTILE, file, listOutside, plantCanaries, symlink, tarOf, whiteout } from './hostile-tars.ts';

// Needs root: overlay-mode whiteouts are char 0:0 devices (mknod). Issue 11, point 4.

let sandbox: string;
beforeEach(() => {
  sandbox = mkdtempSync(path.join(tmpdir(), 'berth-hostile-'));
});
afterEach(() => {
  rmSync(sandbox, { recursive: true, force: true });
});

const LABEL = 'sha256:feedface';

describe.each<ApplyMode>(['plain', 'overlay'])('a hostile layer applied in %s mode', (mode) => {
  it.each(HOSTILE.map((c) => [c.name, c] as const))('%s: refused, naming layer and member; nothing outside touched', async (_, hostile) => {
    const dest = plantCanaries(sandbox);
    const before = listOutside(sandbox, [dest]);
    const applied = applyTar(Readable.from([await tarOf(hostile.entries)]), dest, { mode, layer: LABEL });
    await expect(applied).rejects.toThrow(LABEL);
    await expect(applied).rejects.toThrow(JSON.stringify(hostile.member));
    expect(listOutside(sandbox, [dest])).toEqual(before);
    expect(readFileSync(path.join(sandbox, 'canary'), 'utf8')).toBe('precious');
    expect(lstatSync(dest).isDirectory()).toBe(true);
    expect(existsSync(path.join('/', ESCAPED))).toBe(false);
    expect(lstatSync(path.join(sandbox, 'canary')).nlink).toBe(1);
  });
});

describe('symlinks that were already in the destination', () => {
  it('are followed inside the root only, as in a container', async () => {
    const dest = plantCanaries(sandbox);
    symlinkSync('/', path.join(dest, 'abs'));
    symlinkSync('../../..', path.join(dest, 'up'));
    symlinkSync(sandbox, path.join(dest, 'host'));
    const before = listOutside(sandbox, [dest]);
    await applyTar(Readable.from([await tarOf([
      file('abs/via-abs', 'a'), file('up/via-up', 'u'), file('host/canary', 'inside'),
      whiteout('up/.wh.canary-dir'),
    ])]), dest, { mode: 'plain' });
    expect(readFileSync(path.join(dest, 'via-abs'), 'utf8')).toBe('a');
    expect(readFileSync(path.join(dest, 'via-up'), 'utf8')).toBe('u');
    expect(readFileSync(path.join(dest, sandbox, 'canary'), 'utf8')).toBe('inside');
    expect(listOutside(sandbox, [dest])).toEqual(before);
  });

  it('a directory entry replaces a symlink of the layer, and members then go into it', async () => {
    const dest = plantCanaries(sandbox);
    const before = listOutside(sandbox, [dest]);
    await applyTar(Readable.from([await tarOf([
      symlink('d', '..'), { header: { name: 'd/', type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1 } }, file('d/f', 'f'),
    ])]), dest, { mode: 'overlay' });
    expect(readFileSync(path.join(dest, 'd', 'f'), 'utf8')).toBe('f');
    expect(listOutside(sandbox, [dest])).toEqual(before);
  });

  it('directory times are never set through a symlink that replaced the directory', async () => {
    const dest = plantCanaries(sandbox);
    mkdirSync(path.join(sandbox, 'canary-dir', 'sub'));
    writeFileSync(path.join(sandbox, 'canary-dir', 'sub', 'f'), 'f');
    const before = listOutside(sandbox, [dest]);
    const beforeTime = lstatSync(path.join(sandbox, 'canary-dir', 'sub')).mtimeMs;
    await applyTar(Readable.from([await tarOf([
      { header: { name: 'd/', type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1 } },
      { header: { name: 'd/sub/', type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1 } },
      symlink('d', path.join(sandbox, 'canary-dir')),
    ])]), dest, { mode: 'plain' });
    expect(lstatSync(path.join(sandbox, 'canary-dir', 'sub')).mtimeMs).toBe(beforeTime);
    expect(listOutside(sandbox, [dest])).toEqual(before);
  });
});
