/**
 * Packing and restoring cache mount directories (issue 18) without a registry: the locks they
 * honour, what a restore refuses to replace, the filters. Needs root (chown of restored files).
 */
import { chmodSync, closeSync, createReadStream, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { Descriptor } from '../../src/image/descriptor.ts';
import { cacheName, lockPath } from '../../src/mounts/cache-mounts.ts';
import { filesSize, packCacheMounts, restoreCacheMounts, type PlannedCacheMount, type RestoreOptions } from '../../src/mounts/cache-mount-transfer.ts';
import { ensureStore, storeLayout, type StoreLayout } from '../../src/store/layout.ts';
import { fsExtra, LOCK_EX, LOCK_SH, LOCK_UN } from '../../src/sys/fsx.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-cm-transfer-'));
let n = 0;
let a: StoreLayout;
let b: StoreLayout;
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => {
  n++;
  a = ensureStore(storeLayout(path.join(dir, `a${n}`)));
  b = ensureStore(storeLayout(path.join(dir, `b${n}`)));
});

const mount = (id: string): PlannedCacheMount => ({ id, name: cacheName(id) });

function fill(layout: StoreLayout, m: PlannedCacheMount): string {
  const root = path.join(layout.cacheMounts, m.name);
  mkdirSync(path.join(root, 'sub'), { recursive: true });
  writeFileSync(path.join(root, 'sub/file'), `${m.id} data\n`);
  symlinkSync('sub/file', path.join(root, 'link'));
  return root;
}

/** Holds `name`'s lock as another user of the cache would; returns the release. */
function hold(layout: StoreLayout, name: string, operation: number): () => void {
  mkdirSync(layout.locks, { recursive: true });
  const fd = openSync(lockPath(layout, name), 'a');
  expect(fsExtra().flock(fd, operation)).toBe(true);
  return () => {
    fsExtra().flock(fd, LOCK_UN);
    closeSync(fd);
  };
}

function messages() {
  const log: string[] = [];
  const warn: string[] = [];
  return { log, warn, sinks: { log: (m: string) => log.push(m), warn: (m: string) => warn.push(m) } };
}

function restoring(layers: Map<string, string>, sinks: { log(m: string): void; warn(m: string): void }, extra: Partial<RestoreOptions> = {}): RestoreOptions {
  return { maxBytes: 1 << 30, ...sinks, fetch: async (l: Descriptor) => createReadStream(layers.get(l.digest)!), done: async () => undefined, ...extra };
}

describe('packing cache mounts', () => {
  it('waits for a sharing=locked user to finish, and skips the mount when it does not in time', async () => {
    const m = mount('locked');
    fill(a, m);
    const release = hold(a, m.name, LOCK_EX);
    const early = messages();
    const gaveUp = await packCacheMounts(a, [m], { maxBytes: 1 << 30, lockWaitMs: 300, ...early.sinks });
    expect(gaveUp.blobs).toEqual([]);
    expect(early.warn).toEqual(['cache mount locked not exported: still in use by another build (sharing=locked)']);
    gaveUp.cleanup();

    const later = messages();
    let done = false;
    const packing = packCacheMounts(a, [m], { maxBytes: 1 << 30, lockWaitMs: 10_000, ...later.sinks }).then((r) => { done = true; return r; });
    await new Promise((r) => setTimeout(r, 400));
    expect(done).toBe(false);
    expect(later.log).toEqual(['cache mount locked: waiting for the build using it (sharing=locked)']);
    release();
    const packed = await packing;
    expect(packed.blobs).toHaveLength(1);
    packed.cleanup();
    expect(existsSync(packed.blobs[0].path)).toBe(false);
  });

  it('reads beside shared users, skips empty mounts and those over the limit', async () => {
    const shared = mount('shared');
    const big = mount('big');
    const empty = mount('empty');
    fill(a, shared);
    writeFileSync(path.join(fill(a, big), 'blob'), Buffer.alloc(4096));
    mkdirSync(path.join(a.cacheMounts, empty.name));
    const release = hold(a, shared.name, LOCK_SH);
    const out = messages();
    const packed = await packCacheMounts(a, [shared, big, empty], { maxBytes: 1000, lockWaitMs: 0, ...out.sinks });
    release();
    expect(packed.blobs.map((blob) => blob.descriptor.annotations!['io.berth.cache-mount.id'])).toEqual(['shared']);
    expect(packed.blobs[0].descriptor.annotations).toMatchObject({
      'io.berth.cache-mount.name': shared.name, 'io.berth.cache-mount.root': '0:0:755', 'io.berth.cache-mount.size': String('shared data\n'.length),
    });
    expect(packed.blobs[0].descriptor.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect(out.warn).toEqual(['cache mount big not exported: over cache-mounts-max-size=1kB']);
    expect(filesSize(path.join(a.cacheMounts, big.name))).toBe(4096 + 'big data\n'.length);
    packed.cleanup();
  });
});

describe('restoring cache mounts', () => {
  async function packed(ids: string[]): Promise<{ layers: Descriptor[]; files: Map<string, string> }> {
    const mounts = ids.map(mount);
    for (const m of mounts) fill(a, m);
    const out = messages();
    const p = await packCacheMounts(a, mounts, { maxBytes: 1 << 30, ...out.sinks });
    return { layers: p.blobs.map((x) => x.descriptor), files: new Map(p.blobs.map((x) => [x.descriptor.digest, x.path])) };
  }

  it('unpacks into an absent or empty directory, with files, links, owner and mode', async () => {
    chmodRoot(a, mount('one'), 0o1777);
    const { layers, files } = await packed(['one', 'two']);
    mkdirSync(path.join(b.cacheMounts, mount('two').name)); // empty: made by a build that wrote nothing
    const out = messages();
    const dropped: string[] = [];
    expect(await restoreCacheMounts(b, layers, restoring(files, out.sinks, { done: async (l) => { dropped.push(l.digest); } }))).toBe(2);
    const one = path.join(b.cacheMounts, mount('one').name);
    expect(readFileSync(path.join(one, 'sub/file'), 'utf8')).toBe('one data\n');
    expect(readlinkSync(path.join(one, 'link'))).toBe('sub/file');
    expect((statSync(one).mode & 0o7777).toString(8)).toBe('1777');
    expect(readFileSync(path.join(b.cacheMounts, mount('two').name, 'sub/file'), 'utf8')).toBe('two data\n');
    expect(dropped).toEqual(layers.map((l) => l.digest));
    expect(out.log).toEqual([expect.stringMatching(/^restored cache mount one/), expect.stringMatching(/^restored cache mount two/)]);
  });

  it('never replaces a warm directory, nor one a running build holds', async () => {
    const { layers, files } = await packed(['warm', 'busy']);
    const warm = path.join(b.cacheMounts, mount('warm').name);
    mkdirSync(warm);
    writeFileSync(path.join(warm, 'mine'), 'local\n');
    mkdirSync(path.join(b.cacheMounts, mount('busy').name));
    const release = hold(b, mount('busy').name, LOCK_SH);
    const out = messages();
    let fetched = 0;
    expect(await restoreCacheMounts(b, layers, restoring(files, out.sinks, { fetch: async (l) => { fetched++; return createReadStream(files.get(l.digest)!); } }))).toBe(0);
    release();
    expect(fetched).toBe(0);
    expect(readFileSync(path.join(warm, 'mine'), 'utf8')).toBe('local\n');
    expect(existsSync(path.join(warm, 'sub'))).toBe(false);
    expect(out.log).toEqual(['cache mount warm not restored: warm here already', 'cache mount busy not restored: in use by a running build']);
  });

  it('keeps to cache-mount-ids and the size limit, and refuses names that are not berth\'s', async () => {
    const { layers, files } = await packed(['wanted', 'other']);
    const forged: Descriptor = { ...layers[0], annotations: { ...layers[0].annotations, 'io.berth.cache-mount.name': '../../etc' } };
    const out = messages();
    expect(await restoreCacheMounts(b, [...layers, forged], restoring(files, out.sinks, { ids: ['wanted'], maxBytes: 4 }))).toBe(0);
    expect(out.warn).toEqual([
      // Its files are 12 B; its gzip layer, larger, is what counts then.
      `cache mount wanted not restored: ${layers[0].size}B is over cache-mounts-max-size=4B`,
      'cache mount wanted not restored: its annotations are not berth\'s',
    ]);
    expect(out.log).toEqual(['cache mount other not restored: not in cache-mount-ids']);
    expect(await restoreCacheMounts(b, layers, restoring(files, out.sinks, { ids: ['wanted'] }))).toBe(1);
    expect(existsSync(path.join(b.cacheMounts, mount('other').name))).toBe(false);
  });
});

function chmodRoot(layout: StoreLayout, m: PlannedCacheMount, mode: number): void {
  const root = path.join(layout.cacheMounts, m.name);
  mkdirSync(root, { recursive: true });
  chmodSync(root, mode);
}
