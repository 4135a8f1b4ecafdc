/**
 * The engine's snapshot directories used the way a build uses them: RUN steps in real containers
 * over committed layers (overlay-upper form), committed into a chain. Checks the upper dir format
 * (whiteouts, opaque dirs) through what later layers see, FROM scratch (an empty lower layer),
 * deep chains, racing commits and the sweep of a killed build's temp dirs. Needs root.
 */
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerSpec } from '../../src/exec/index.ts';
import { commitDir, emptyLowerDir, makeTempDir } from '../../src/snapshot/snapshots.ts';
import { ensureStore, storeLayout, type StoreLayout } from '../../src/store/layout.ts';
import { BUSYBOX, listTree, makeBusyboxRootfs, makeTempDir as makeTestDir, removeTree, run, shellSpec } from '../exec/busybox.ts';

let layout: StoreLayout;

/** A step's scratch space: an upper and a work dir in the store's temp area. */
function prepare(): { temp: string; upperDir: string; workDir: string } {
  const temp = makeTempDir(layout, 'step');
  const upperDir = join(temp, 'upper');
  const workDir = join(temp, 'work');
  mkdirSync(upperDir);
  mkdirSync(workDir);
  return { temp, upperDir, workDir };
}

function snapshot(id: string): string {
  return join(layout.snapshots, id);
}

/** Committed layers, top first, as overlay lower dirs (an empty chain is FROM scratch). */
function lowers(chain: string[]): string[] {
  return chain.length ? chain.map(snapshot) : [emptyLowerDir(layout)];
}

function rootfsOf(step: { upperDir: string; workDir: string }, chain: string[]): ContainerSpec['rootfs'] {
  return { kind: 'overlay', lowerDirs: lowers(chain), upperDir: step.upperDir, workDir: step.workDir };
}

/** One RUN step: run `script` over `chain`, commit the upper dir as `id`. */
async function runStep(chain: string[], script: string, id: string): Promise<string> {
  const step = prepare();
  try {
    const result = await run(shellSpec(rootfsOf(step, chain), script));
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    commitDir(step.upperDir, snapshot(id));
    return snapshot(id);
  } finally {
    await removeTree(step.temp);
  }
}

beforeAll(async () => {
  layout = ensureStore(storeLayout(await makeTestDir('layers')));
  // The base layer is what a COPY of busybox into scratch would commit.
  const step = prepare();
  await makeBusyboxRootfs(step.upperDir);
  commitDir(step.upperDir, snapshot('base'));
  await removeTree(step.temp);
});

afterAll(async () => {
  await removeTree(layout.root);
});

describe('RUN on committed layers', () => {
  it('runs on scratch (an empty lower layer) with busybox bind-mounted in', async () => {
    const step = prepare();
    const spec: ContainerSpec = {
      ...shellSpec(rootfsOf(step, []), ''),
      args: ['/bin/busybox', 'sh', '-c', 'echo hello > /greeting; /bin/busybox ls /'],
      mounts: [{ kind: 'bind', source: BUSYBOX, target: '/bin/busybox', readonly: true }],
    };
    const result = await run(spec);
    expect(result.exitCode).toBe(0);
    expect(result.stdout.split('\n')).toEqual(expect.arrayContaining(['bin', 'greeting', 'proc']));
    expect(await listTree(step.upperDir)).toEqual(['greeting']);
    commitDir(step.upperDir, snapshot('scratch-run'));
    expect(readdirSync(snapshot('scratch-run'))).toEqual(['greeting']);
    await removeTree(step.temp);
  });

  it('gives an empty layer for `RUN true`', async () => {
    expect(await listTree(await runStep(['base'], 'true', 'noop'))).toEqual([]);
  });

  it('records deletions as whiteouts and replaced directories as opaque', async () => {
    const one = await runStep(['base'], 'mkdir -p /d/sub && echo a > /d/a && echo k > /keep && echo g > /gone', 'one');
    expect(await listTree(one)).toEqual(['d', 'd/a', 'd/sub', 'gone', 'keep']);

    const two = await runStep(['one', 'base'], 'rm /gone && rm -rf /d && mkdir /d && echo b > /d/b', 'two');
    const whiteout = statSync(join(two, 'gone'));
    expect(whiteout.isCharacterDevice()).toBe(true);
    expect(whiteout.rdev).toBe(0);
    expect(await listTree(two)).toEqual(['d', 'd/b', 'gone']);

    // A third step sees the merged result: /d replaced wholesale, /gone gone, /keep kept.
    const three = prepare();
    const result = await run(shellSpec(rootfsOf(three, ['two', 'one', 'base']), 'ls /d; ls /gone 2>/dev/null || echo no-gone; cat /keep'));
    expect(result.stdout).toBe('b\nno-gone\nk\n');
    await removeTree(three.temp);
  });

  it('handles a chain of 100 committed layers', async () => {
    let chain = ['base'];
    for (let i = 0; i < 99; i++) {
      const step = prepare();
      mkdirSync(join(step.upperDir, `layer-${i}`));
      commitDir(step.upperDir, snapshot(`deep-${i}`));
      await removeTree(step.temp);
      chain = [`deep-${i}`, ...chain];
    }
    expect(chain).toHaveLength(100);
    const step = prepare();
    const result = await run(shellSpec(rootfsOf(step, chain), 'ls -d /layer-* | wc -l; rmdir /layer-50'));
    expect(result).toMatchObject({ exitCode: 0, stdout: '99\n' });
    expect(statSync(join(step.upperDir, 'layer-50')).isCharacterDevice()).toBe(true);
    await removeTree(step.temp);
  });
});

describe('commits and temp dirs', () => {
  it('keeps the existing snapshot when two builds commit the same layer', () => {
    const first = prepare();
    const second = prepare();
    writeFileSync(join(first.upperDir, 'who'), 'first');
    writeFileSync(join(second.upperDir, 'who'), 'second');
    commitDir(first.upperDir, snapshot('same'));
    commitDir(second.upperDir, snapshot('same'));
    expect(readdirSync(snapshot('same'))).toEqual(['who']);
    expect(existsSync(second.upperDir)).toBe(false);
  });
});
