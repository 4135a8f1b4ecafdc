/** Snapshot directories: prepare, commit, remove, races and cleanup (plain files, no mounts). */
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  cleanupStale,
  commit,
  exists,
  list,
  liveActiveDirs,
  prepare,
  remove,
  removeCommitted,
  snapshotDir,
  tempRoot,
  withActive,
  withTempDir,
} from '../../src/snapshot/index.ts';
import { makeTempDir, removeTree } from '../exec/busybox.ts';

let root: string;

beforeEach(async () => {
  root = await makeTempDir('snapshots');
});

afterEach(async () => {
  await removeTree(root);
});

async function committed(id: string, files: Record<string, string>, parents: string[] = []): Promise<string> {
  const active = await prepare(root, parents);
  for (const [name, content] of Object.entries(files)) await writeFile(join(active.upperDir, name), content);
  await commit(active, id, { sync: false });
  return snapshotDir(root, id);
}

describe('prepare', () => {
  it('gives an empty lower dir for a chain without layers (FROM scratch)', async () => {
    const active = await prepare(root, []);
    expect(active.lowerDirs).toHaveLength(1);
    expect(await readdir(active.lowerDirs[0])).toEqual([]);
    expect(await readdir(active.upperDir)).toEqual([]);
    expect((await stat(active.workDir)).isDirectory()).toBe(true);
    expect(active.dir.startsWith(tempRoot(root))).toBe(true);
    expect((await stat(active.upperDir)).mode & 0o777).toBe(0o755);
    await remove(active);
  });

  it('stacks committed parents top first', async () => {
    await committed('a', { a: '1' });
    await committed('b', { b: '2' }, ['a']);
    const active = await prepare(root, ['b', 'a']);
    expect(active.lowerDirs).toEqual([snapshotDir(root, 'b'), snapshotDir(root, 'a')]);
    expect(active.parentChain).toEqual(['b', 'a']);
    await remove(active);
  });

  it('refuses missing parents and bad ids', async () => {
    await expect(prepare(root, ['nope'])).rejects.toThrow(/parent snapshot nope does not exist/);
    for (const id of ['', '../x', '.tmp', 'a/b', 'x'.repeat(300)]) expect(() => snapshotDir(root, id)).toThrow(/invalid snapshot id/);
    expect(snapshotDir(root, 'sha256:abc')).toBe(join(root, 'snapshots', 'sha256:abc', 'fs'));
    expect(await readdir(tempRoot(root)).catch(() => [])).toEqual([]);
  });
});

describe('commit', () => {
  it('moves the upper dir into place and drops the scaffolding', async () => {
    const active = await prepare(root, []);
    await mkdir(join(active.upperDir, 'etc'));
    await writeFile(join(active.upperDir, 'etc', 'conf'), 'x');
    const result = await commit(active, 'layer1');
    expect(result).toEqual({ id: 'layer1', dir: snapshotDir(root, 'layer1'), created: true });
    expect(await readFile(join(result.dir, 'etc', 'conf'), 'utf8')).toBe('x');
    expect(await readdir(join(root, 'snapshots', 'layer1'))).toEqual(['fs']);
    expect(await exists(root, 'layer1')).toBe(true);
    expect(await list(root)).toEqual(['layer1']);
    expect(await readdir(tempRoot(root))).toEqual([]);
    expect(liveActiveDirs()).not.toContain(active.dir);
  });

  it('keeps the existing snapshot when the id is already committed', async () => {
    await committed('same', { who: 'first' });
    const second = await prepare(root, []);
    await writeFile(join(second.upperDir, 'who'), 'second');
    expect((await commit(second, 'same', { sync: false })).created).toBe(false);
    expect(await readFile(join(snapshotDir(root, 'same'), 'who'), 'utf8')).toBe('first');
    expect(await readdir(tempRoot(root))).toEqual([]);
  });

  it('lets exactly one of two concurrent commits of an id win', async () => {
    const actives = await Promise.all([prepare(root, []), prepare(root, [])]);
    await Promise.all(actives.map((active, i) => writeFile(join(active.upperDir, 'n'), String(i))));
    const results = await Promise.all(actives.map((active) => commit(active, 'race', { sync: false })));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(['0', '1']).toContain(await readFile(join(snapshotDir(root, 'race'), 'n'), 'utf8'));
    expect(await readdir(tempRoot(root))).toEqual([]);
  });

  it('removes committed snapshots', async () => {
    await committed('gone', { f: '' });
    await removeCommitted(root, 'gone');
    await removeCommitted(root, 'gone');
    expect(await exists(root, 'gone')).toBe(false);
    expect(await readdir(tempRoot(root))).toEqual([]);
  });
});

describe('cleanup', () => {
  it('remove is idempotent', async () => {
    const active = await prepare(root, []);
    await remove(active);
    await remove(active);
    expect(await readdir(tempRoot(root))).toEqual([]);
  });

  it('withActive removes the active snapshot when the work fails, keeps a committed one', async () => {
    await expect(
      withActive(root, [], async (active) => {
        await writeFile(join(active.upperDir, 'f'), 'x');
        throw new Error('RUN failed');
      }),
    ).rejects.toThrow('RUN failed');
    expect(await readdir(tempRoot(root))).toEqual([]);
    await withActive(root, [], async (active) => {
      await commit(active, 'kept', { sync: false });
    });
    expect(await exists(root, 'kept')).toBe(true);
    expect(await readdir(tempRoot(root))).toEqual([]);
  });

  it('withTempDir always removes its directory', async () => {
    let seen = '';
    await expect(
      withTempDir(root, async (dir) => {
        seen = dir;
        await writeFile(join(dir, 'x'), 'x');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(seen.startsWith(tempRoot(root))).toBe(true);
    expect(await readdir(tempRoot(root))).toEqual([]);
  });

  it('cleanupStale removes leftovers of dead processes only', async () => {
    const mine = await prepare(root, []);
    const other = join(tempRoot(root), `${process.ppid}-live`);
    const dead = join(tempRoot(root), '4194303-dead');
    const junk = join(tempRoot(root), 'junk');
    for (const dir of [other, dead, junk]) await mkdir(join(dir, 'fs'), { recursive: true });
    const removed = await cleanupStale(root);
    expect(removed.sort()).toEqual([dead, junk].sort());
    expect((await readdir(tempRoot(root))).sort()).toEqual([`${process.ppid}-live`, mine.dir.split('/').pop()].sort());
    await remove(mine);
  });

  it('removes active snapshots when the process exits without cleaning up', async () => {
    const module = new URL('../../src/snapshot/index.ts', import.meta.url).pathname;
    const script = `import { prepare } from ${JSON.stringify(module)};
      const a = await prepare(${JSON.stringify(root)}, []);
      console.log(a.dir);
      process.exit(3);`;
    const run = promisify(execFile);
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script]).catch(
      (error: { stdout: string; code: number }) => {
        expect(error.code).toBe(3);
        return error;
      },
    );
    expect(stdout.trim().startsWith(tempRoot(root))).toBe(true);
    expect(await readdir(tempRoot(root))).toEqual([]);
  });
});
