/**
 * The context fingerprint and the stat cache behind digestSources: an unchanged context is answered
 * from the fingerprint without looking at any file, and any change to a path, mode, owner, size,
 * mtime or ctime (even a same-size rewrite with the mtime put back) is seen, whether the directory
 * was hashed whole or, thinned out by .dockerignore, entry by entry.
 */
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStatCache, saveStatCache, type StatCache } from '../../src/context/stat-cache.ts';
import { NO_FILTER, type ContextFilter } from '../../src/context/walk.ts';
import { digestSources } from '../../src/copy/digest.ts';
import { contextTree } from '../../src/copy/source-tree.ts';

let dir: string;
let ctx: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-context-print-'));
  ctx = path.join(dir, 'ctx');
  for (const d of ['a', 'b', 'b/c']) mkdirSync(path.join(ctx, d), { recursive: true });
  for (const f of ['top.txt', 'a/1', 'a/2', 'b/3', 'b/c/4', 'b/skip.log']) writeFileSync(path.join(ctx, f), `${f}\n`);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Files written just now are too fresh to trust (the racy window); pretend they were recorded long after. */
function ageCache(cache: StatCache): void {
  for (const print of cache.prints.values()) print[2] = Date.now() + 3_600_000;
  for (const entry of cache.entries.values()) entry[11] = Date.now() + 3_600_000;
}

async function digest(cache: StatCache, filter: ContextFilter = NO_FILTER, rel = ''): Promise<string> {
  const tree = contextTree(ctx, filter);
  const entry = tree.resolve(rel);
  if (!entry) throw new Error(`no ${rel}`);
  return digestSources(tree, [{ rel, entry }], cache);
}

const noLogs: ContextFilter = { excluded: (rel) => rel.endsWith('.log'), mustDescend: () => false };

describe('context fingerprint', () => {
  for (const [name, filter] of [['whole directories', NO_FILTER], ['a directory thinned by .dockerignore', noLogs]] as const) {
    describe(name, () => {
      it('answers an unchanged context without a per-file look', async () => {
        const cache = openStatCache(path.join(dir, 'cache'), ctx);
        const first = await digest(cache, filter);
        expect(cache.misses).toBeGreaterThan(0);
        ageCache(cache);
        const looks = cache.hits + cache.misses;
        expect(await digest(cache, filter)).toBe(first);
        expect(cache.hits + cache.misses).toBe(looks);
      });

      it('survives a save and reopen', async () => {
        const cache = openStatCache(path.join(dir, 'cache'), ctx);
        const first = await digest(cache, filter);
        ageCache(cache);
        saveStatCache(cache);
        const again = openStatCache(path.join(dir, 'cache'), ctx);
        expect(await digest(again, filter)).toBe(first);
        expect(again.hits + again.misses).toBe(0);
      });

      const changes: Array<[string, () => void]> = [
        ['a same-size rewrite with the mtime put back', () => {
          const file = path.join(ctx, 'b/c/4');
          const before = statSync(file);
          writeFileSync(file, 'b/c/X\n');
          utimesSync(file, before.atime, before.mtime);
        }],
        ['a same-size rewrite next to an excluded file', () => {
          const file = path.join(ctx, 'b/3');
          const before = statSync(file);
          writeFileSync(file, 'b/X\n');
          utimesSync(file, before.atime, before.mtime);
        }],
        ['a mode change', () => chmodSync(path.join(ctx, 'a/1'), 0o600)],
        ['a rename', () => renameSync(path.join(ctx, 'a/2'), path.join(ctx, 'a/3'))],
        ['a new file', () => writeFileSync(path.join(ctx, 'b/new'), 'new\n')],
        ['a touch', () => utimesSync(path.join(ctx, 'top.txt'), new Date(), new Date(Date.now() - 60_000))],
      ];
      for (const [what, change] of changes) {
        it(`sees ${what}`, async () => {
          const cache = openStatCache(path.join(dir, 'cache'), ctx);
          await digest(cache, filter);
          ageCache(cache);
          const looks = cache.hits + cache.misses;
          change();
          const fresh = await digest(openStatCache(path.join(dir, 'fresh'), ctx), filter);
          // The fingerprint no longer matches, so every file is looked at (and the cached ones hit).
          expect(await digest(cache, filter)).toBe(fresh);
          expect(cache.hits + cache.misses).toBeGreaterThan(looks);
        });
      }
    });
  }

  it('ignores a change to an excluded file', async () => {
    const cache = openStatCache(path.join(dir, 'cache'), ctx);
    const first = await digest(cache, noLogs);
    ageCache(cache);
    const looks = cache.hits + cache.misses;
    writeFileSync(path.join(ctx, 'b/skip.log'), 'changed, and longer\n');
    expect(await digest(cache, noLogs)).toBe(first);
    expect(cache.hits + cache.misses).toBe(looks);
  });

  it('covers what exceptions re-include below an excluded directory, and only that', async () => {
    const onlyB3: ContextFilter = { excluded: (rel) => rel.startsWith('b') && rel !== 'b/3', mustDescend: (rel) => rel === 'b' };
    const cache = openStatCache(path.join(dir, 'cache'), ctx);
    const first = await digest(cache, onlyB3);
    ageCache(cache);
    const looks = cache.hits + cache.misses;
    writeFileSync(path.join(ctx, 'b/c/4'), 'excluded, and longer\n');
    expect(await digest(cache, onlyB3)).toBe(first);
    expect(cache.hits + cache.misses).toBe(looks);
    writeFileSync(path.join(ctx, 'b/3'), 'included, and longer\n');
    const changed = await digest(cache, onlyB3);
    expect(changed).not.toBe(first);
    expect(changed).toBe(await digest(openStatCache(path.join(dir, 'fresh'), ctx), onlyB3));
  });

  it('fingerprints a single-file source and a subdirectory', async () => {
    const cache = openStatCache(path.join(dir, 'cache'), ctx);
    const file = await digest(cache, NO_FILTER, 'a/1');
    const sub = await digest(cache, NO_FILTER, 'b');
    ageCache(cache);
    expect(await digest(cache, NO_FILTER, 'a/1')).toBe(file);
    expect(await digest(cache, NO_FILTER, 'b')).toBe(sub);
    writeFileSync(path.join(ctx, 'a/1'), 'A/1\n');
    expect(await digest(cache, NO_FILTER, 'a/1')).not.toBe(file);
  });

  it('takes over the per-file entries of a version 2 cache (ns times as strings)', async () => {
    const fresh = openStatCache(path.join(dir, 'fresh'), ctx);
    const expected = await digest(fresh, NO_FILTER, 'a/1');
    const cache = openStatCache(path.join(dir, 'cache'), ctx);
    const file = path.join(ctx, 'a/1');
    const s = lstatSync(file, { bigint: true });
    const entry = [Number(s.dev), Number(s.ino), Number(s.size), Number(s.mode), Number(s.uid), Number(s.gid), String(s.mtimeNs), String(s.ctimeNs), 'f'.repeat(64), Date.now() + 3_600_000];
    mkdirSync(path.dirname(cache.file), { recursive: true });
    writeFileSync(cache.file, JSON.stringify({ version: 2, entries: { [file]: entry } }));
    // The remembered digest is taken without reading the file: the stat data matched.
    expect(await digest(cache, NO_FILTER, 'a/1')).not.toBe(expected);
    expect([cache.hits, cache.misses]).toEqual([1, 0]);
  });
});
