/**
 * Cache mount directories without a container: creation with uid/gid/mode, seeds, private slots
 * (claims, stale claims of dead builds), lock lists. Needs root (chown).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunMount } from '../../src/plan/index.ts';
import { ensureStore, storeLayout, type StoreLayout } from '../../src/store/layout.ts';
import { cacheName, leaseCacheMount, mergeLocks } from '../../src/mounts/cache-mounts.ts';
import { contextTree } from '../../src/copy/source-tree.ts';
import { NO_FILTER } from '../../src/context/walk.ts';

let dir: string;
let layout: StoreLayout;
const range = { start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 1, offset: 0 } } as unknown as RunMount['range'];

function mount(extra: Partial<RunMount>): RunMount {
  return { type: 'cache', target: '/c', readonly: false, sharing: 'shared', range, ...extra };
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-cache-mounts-'));
  layout = ensureStore(storeLayout(path.join(dir, 'store')));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('cache directories', () => {
  it('are made once, with the mount\'s owner and mode, and found again by id, owner and mode', () => {
    const first = leaseCacheMount(layout, mount({ id: 'owned', uid: 1000, gid: 27, mode: 0o750 }));
    const st = statSync(first.dir);
    expect([st.uid, st.gid, (st.mode & 0o7777).toString(8)]).toEqual([1000, 27, '750']);
    writeFileSync(path.join(first.dir, 'kept'), 'x');
    const again = leaseCacheMount(layout, mount({ id: 'owned', uid: 1000, gid: 27, mode: 0o750 }));
    expect(again.dir).toBe(first.dir);
    expect(path.basename(first.dir)).toBe(cacheName('owned', undefined, { uid: 1000, gid: 27, mode: 0o750 }));
  });

  // BuildKit keys a cache by its id and the directory it starts from (made with uid/gid/mode when
  // any is given): same id, another owner or mode, another cache (Docker 20.10 and 26 agree).
  it('are other caches for the same id with another uid, gid or mode, or none', () => {
    const plain = leaseCacheMount(layout, mount({ id: 'keyed' }));
    writeFileSync(path.join(plain.dir, 'plain'), 'x');
    expect(path.basename(plain.dir)).toBe(cacheName('keyed'));
    const uid0 = leaseCacheMount(layout, mount({ id: 'keyed', uid: 0 }));
    expect(uid0.dir).not.toBe(plain.dir);
    expect(existsSync(path.join(uid0.dir, 'plain'))).toBe(false);
    // Explicit defaults are the same starting directory as `uid=0` alone.
    expect(leaseCacheMount(layout, mount({ id: 'keyed', uid: 0, gid: 0, mode: 0o755 })).dir).toBe(uid0.dir);
    const mode = leaseCacheMount(layout, mount({ id: 'keyed', mode: 0o700 }));
    expect(new Set([plain.dir, uid0.dir, mode.dir, leaseCacheMount(layout, mount({ id: 'keyed', gid: 1000 })).dir]).size).toBe(4);
    const u1000 = leaseCacheMount(layout, mount({ id: 'keyed', uid: 1000 }));
    expect([statSync(u1000.dir).uid, statSync(u1000.dir).gid]).toEqual([1000, 0]);
  });

  it('default the id to the target', () => {
    expect(leaseCacheMount(layout, mount({ target: '/root/.cache' })).dir).toBe(path.join(layout.cacheMounts, cacheName('/root/.cache')));
  });

  it('start as a copy of a seed, kept apart from the unseeded cache of the same id', () => {
    const src = path.join(dir, 'seed');
    rmSync(src, { recursive: true, force: true });
    spawnSync('sh', ['-c', `mkdir -p ${src}/sub && echo s > ${src}/sub/f && ln -s sub ${src}/link && chown -R 1000:1000 ${src}/sub`]);
    const tree = contextTree(src, NO_FILTER);
    const seed = { tree, entry: tree.resolve('')!, key: 'stage-key /' };
    const lease = leaseCacheMount(layout, mount({ id: 'seeded' }), seed);
    expect(readFileSync(path.join(lease.dir, 'sub/f'), 'utf8')).toBe('s\n');
    expect(statSync(path.join(lease.dir, 'sub')).uid).toBe(1000);
    expect(readFileSync(path.join(lease.dir, 'link/f'), 'utf8')).toBe('s\n');
    expect(lease.dir).not.toBe(leaseCacheMount(layout, mount({ id: 'seeded' })).dir);
  });
});

describe('sharing', () => {
  it('takes the cache lock shared for shared users and exclusive for locked ones', () => {
    const shared = leaseCacheMount(layout, mount({ id: 'l', sharing: 'shared' }));
    const locked = leaseCacheMount(layout, mount({ id: 'l', sharing: 'locked' }));
    expect(shared.locks).toEqual([{ path: path.join(layout.locks, `cache-${cacheName('l')}.lock`), shared: true }]);
    expect(locked.locks).toEqual([{ path: shared.locks[0].path, shared: false }]);
    expect(locked.dir).toBe(shared.dir);
  });

  it('gives concurrent private users their own directories and frees them on release', () => {
    const a = leaseCacheMount(layout, mount({ id: 'p', sharing: 'private' }));
    const b = leaseCacheMount(layout, mount({ id: 'p', sharing: 'private' }));
    expect(a.dir).toBe(path.join(layout.cacheMounts, cacheName('p')));
    expect(b.dir).toBe(path.join(layout.cacheMounts, `${cacheName('p')}.1`));
    expect(a.locks).toHaveLength(1);
    expect(b.locks).toEqual([]);
    a.release();
    const c = leaseCacheMount(layout, mount({ id: 'p', sharing: 'private' }));
    expect(c.dir).toBe(a.dir);
    b.release();
    c.release();
    expect(existsSync(path.join(layout.locks, `cache-${cacheName('p')}.0.owner`))).toBe(false);
  });

  it('takes over the claim of a build that died', () => {
    const dead = spawnSync('true').pid!;
    writeFileSync(path.join(layout.locks, `cache-${cacheName('d')}.0.owner`), String(dead));
    const lease = leaseCacheMount(layout, mount({ id: 'd', sharing: 'private' }));
    expect(lease.dir).toBe(path.join(layout.cacheMounts, cacheName('d')));
    expect(readFileSync(path.join(layout.locks, `cache-${cacheName('d')}.0.owner`), 'utf8')).toBe(String(process.pid));
    lease.release();
  });
});

describe('mergeLocks', () => {
  it('sorts, dedupes and lets exclusive win', () => {
    expect(mergeLocks([
      { path: '/b', shared: true }, { path: '/a', shared: true }, { path: '/b', shared: false }, { path: '/a', shared: true },
    ])).toEqual([{ path: '/a', shared: true }, { path: '/b', shared: false }]);
  });
});
