/**
 * Snapshots used the way a build uses them: RUN steps in real containers over prepared
 * snapshots, committed into a chain. Checks the upper dir format (whiteouts, opaque dirs) through
 * what later layers see, and that FROM scratch (no lower layer at all) works. Needs root.
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerSpec } from '../../src/exec/index.ts';
import { commit, prepare, remove, snapshotDir, tempRoot, type ActiveSnapshot } from '../../src/snapshot/index.ts';
import { BUSYBOX, listTree, makeBusyboxRootfs, makeTempDir, removeTree, run, shellSpec } from '../exec/busybox.ts';

let root: string;

function rootfsOf(active: ActiveSnapshot): ContainerSpec['rootfs'] {
  return { kind: 'overlay', lowerDirs: active.lowerDirs, upperDir: active.upperDir, workDir: active.workDir };
}

/** One RUN step: prepare on `chain`, run `script`, commit as `id` (or throw on failure). */
async function runStep(chain: string[], script: string, id: string): Promise<string> {
  const active = await prepare(root, chain);
  try {
    const result = await run(shellSpec(rootfsOf(active), script));
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    return (await commit(active, id, { sync: false })).dir;
  } catch (error) {
    await remove(active);
    throw error;
  }
}

beforeAll(async () => {
  root = await makeTempDir('overlay');
  // The base layer is what a COPY of busybox into scratch would commit.
  const active = await prepare(root, []);
  await makeBusyboxRootfs(active.upperDir);
  await commit(active, 'base', { sync: false });
});

afterAll(async () => {
  await removeTree(root);
});

describe('RUN on snapshots', () => {
  it('runs on scratch (an empty lower layer) with busybox bind-mounted in', async () => {
    const active = await prepare(root, []);
    const spec: ContainerSpec = {
      ...shellSpec(rootfsOf(active), ''),
      args: ['/bin/busybox', 'sh', '-c', 'echo hello > /greeting; /bin/busybox ls /'],
      mounts: [{ kind: 'bind', source: BUSYBOX, target: '/bin/busybox', readonly: true }],
    };
    const result = await run(spec);
    expect(result.exitCode).toBe(0);
    expect(result.stdout.split('\n')).toEqual(expect.arrayContaining(['bin', 'greeting', 'proc']));
    expect(await listTree(active.upperDir)).toEqual(['greeting']);
    const committed = await commit(active, 'scratch-run', { sync: false });
    expect(await readdir(committed.dir)).toEqual(['greeting']);
  });

  it('gives an empty layer for `RUN true`', async () => {
    const dir = await runStep(['base'], 'true', 'noop');
    expect(await listTree(dir)).toEqual([]);
  });

  it('records deletions as whiteouts and replaced directories as opaque', async () => {
    const one = await runStep(['base'], 'mkdir -p /d/sub && echo a > /d/a && echo k > /keep && echo g > /gone', 'one');
    expect(await listTree(one)).toEqual(['d', 'd/a', 'd/sub', 'gone', 'keep']);

    const two = await runStep(['one', 'base'], 'rm /gone && rm -rf /d && mkdir /d && echo b > /d/b', 'two');
    const whiteout = await stat(join(two, 'gone'));
    expect(whiteout.isCharacterDevice()).toBe(true);
    expect(whiteout.rdev).toBe(0);
    expect(await listTree(two)).toEqual(['d', 'd/b', 'gone']);

    // A third step sees the merged result: /d replaced wholesale, /gone gone, /keep kept.
    const three = await prepare(root, ['two', 'one', 'base']);
    const result = await run(shellSpec(rootfsOf(three), 'ls /d; ls /gone 2>/dev/null || echo no-gone; cat /keep'));
    expect(result.stdout).toBe('b\nno-gone\nk\n');
    await remove(three);
  });

  it('leaves nothing in the temp area after commits and removals', async () => {
    expect(await readdir(tempRoot(root))).toEqual([]);
    expect((await stat(snapshotDir(root, 'two'))).isDirectory()).toBe(true);
  });

  it('an interrupted RUN leaves no temp dir once removed', async () => {
    const active = await prepare(root, ['base']);
    const controller = new AbortController();
    const pending = run(shellSpec(rootfsOf(active), 'echo x > /file; sleep 100'), controller.signal);
    await new Promise((resolve) => setTimeout(resolve, 300));
    controller.abort();
    await expect(pending).rejects.toThrow(/abort/i);
    await remove(active);
    expect(await readdir(tempRoot(root))).toEqual([]);
  });

  it('handles a chain of 100 committed snapshots', async () => {
    let chain = ['base'];
    for (let i = 0; i < 99; i++) {
      const active = await prepare(root, chain);
      await mkdir(join(active.upperDir, `layer-${i}`));
      const id = `deep-${i}`;
      await commit(active, id, { sync: false });
      chain = [id, ...chain];
    }
    expect(chain).toHaveLength(100);
    const active = await prepare(root, chain);
    const result = await run(shellSpec(rootfsOf(active), 'ls -d /layer-* | wc -l; rmdir /layer-50'));
    expect(result).toMatchObject({ exitCode: 0, stdout: '99\n' });
    expect((await stat(join(active.upperDir, 'layer-50'))).isCharacterDevice()).toBe(true);
    await remove(active);
  });
});
