/**
 * Leftovers of killed writers are told apart by the pid in their names (src/store/sweep.ts): a
 * build sweeps scratch dirs, half-written blobs and half-written mount hints of dead pids, and
 * leaves those of live writers alone.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureStore, STORE_AREAS, storeLayout, type StoreLayout } from '../../src/store/layout.ts';
import { sweepStore, writerName, writerPidOf } from '../../src/store/sweep.ts';

/** A pid that was a process a moment ago and is gone now. */
function deadPid(): number {
  const child = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' });
  return Number(child.stdout.trim());
}

let dir: string;
let layout: StoreLayout;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-sweep-'));
  layout = ensureStore(storeLayout(path.join(dir, 'store')));
  mkdirSync(layout.ingest, { recursive: true });
  mkdirSync(layout.registrySources, { recursive: true });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('writer names', () => {
  it('carry the writer pid in every form the store uses', () => {
    expect(writerPidOf(writerName())).toBe(process.pid);
    expect(writerPidOf(writerName('step'))).toBe(process.pid);
    expect(writerPidOf(`.${writerName()}.tmp`)).toBe(process.pid);
    expect(writerPidOf(`${writerName()}.tmp`)).toBe(process.pid);
    expect(writerPidOf('0123abcd.json')).toBeUndefined();
    expect(writerPidOf('sha256')).toBeUndefined();
  });
});

describe('sweepStore', () => {
  it('removes what dead writers left in tmp/, ingest/ and registry/sources/, and nothing else', () => {
    const dead = deadPid();
    const live = process.ppid;
    const plant = (area: string, name: string, asDir = false) => {
      const file = path.join(area, name);
      if (asDir) mkdirSync(file);
      else writeFileSync(file, 'partial');
      return file;
    };
    const gone = [
      plant(layout.tmp, `step-${dead}-abcdef012345`, true),
      plant(layout.ingest, `${dead}-abcdef012345.tmp`),
      plant(layout.registrySources, `.${dead}-abcdef012345.tmp`),
    ];
    const kept = [
      plant(layout.tmp, `step-${live}-abcdef012345`, true),
      plant(layout.ingest, `${live}-abcdef012345.tmp`),
      plant(layout.registrySources, `.${live}-abcdef012345.tmp`),
      plant(layout.registrySources, `${'ab'.repeat(32)}.json`),
      plant(layout.tmp, 'not-a-writer-name', true),
    ];
    expect(sweepStore(layout).sort()).toEqual([...gone].sort());
    for (const file of gone) expect(existsSync(file), file).toBe(false);
    for (const file of kept) expect(existsSync(file), file).toBe(true);
  });

  it('copes with areas that were never made', () => {
    rmSync(layout.ingest, { recursive: true });
    rmSync(path.dirname(layout.registrySources), { recursive: true });
    expect(sweepStore(layout)).toEqual([]);
  });
});

describe('the store layout', () => {
  it('names every area below the root and gives each a collection rule', () => {
    const { root, ...areas } = layout;
    for (const [name, dir] of Object.entries(areas)) {
      expect(dir.startsWith(`${root}/`), name).toBe(true);
      expect(STORE_AREAS[name as keyof typeof STORE_AREAS], name).toBeTruthy();
    }
    expect(new Set(Object.values(areas)).size).toBe(Object.keys(areas).length);
    expect(readdirSync(root).sort()).toEqual(['blobs', 'cache', 'cache-mounts', 'images', 'ingest', 'locks', 'registry', 'snapshots', 'tmp']);
  });
});
