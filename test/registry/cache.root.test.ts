import { spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasBlob, sha256Digest } from '../../src/content/index.ts';
import { readCacheRecord, writeCacheRecord, type CacheRecord } from '../../src/cache/records.ts';
import { importRootfs } from '../../src/image/commit.ts';
import { storeLayer } from '../../src/layer/store.ts';
import { parseCacheRecords } from '../../src/registry/cache.ts';
import {
  closeRegistryConnections, exportCache, importCache, parseCacheSpec, pullImage, pushImage, RegistryError, type RegistryStores,
} from '../../src/registry/index.ts';
import { makeImage, makeStores, noise, run, startRegistry, tempDir, type TestRegistry } from './helpers.ts';
import { countOutcome } from '../e2e/harness.ts';

// The build cache through a registry and through an OCI layout directory: what one store
// exports, an empty store imports, and a build there finds every step cached.

const BERTH = join(import.meta.dirname, '..', '..', 'bin', 'berth');
let registry: TestRegistry;
let root: string;
let count = 0;

beforeAll(async () => {
  registry = await startRegistry();
  root = await tempDir('cache');
});
afterAll(async () => {
  closeRegistryConnections();
  await registry?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

async function fresh(): Promise<RegistryStores> {
  return makeStores(join(root, `store-${count++}`));
}

/** Records for three steps (two with layers, one empty) with their blobs in `stores`. */
async function someRecords(stores: RegistryStores): Promise<CacheRecord[]> {
  const records: CacheRecord[] = [];
  for (let i = 0; i < 3; i++) {
    const key = sha256Digest(`step ${i} ${count}`);
    if (i === 1) {
      records.push({ key, createdAt: '2024-01-02T03:04:05Z' });
      continue;
    }
    const layer = await storeLayer(stores.content, (async function* () {
      yield Buffer.from(noise(2048));
    })());
    records.push({ key, createdAt: '2024-01-02T03:04:05Z', layer: { diffId: layer.diffId, blobDigest: layer.digest, blobSize: layer.size, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' } });
  }
  for (const record of records) await writeCacheRecord(stores.layout.cache, record);
  return records;
}

async function expectImported(stores: RegistryStores, records: CacheRecord[]): Promise<void> {
  for (const record of records) {
    expect(readCacheRecord(stores.layout.cache, record.key)).toEqual(record);
    if (record.layer) expect(await hasBlob(stores.content, record.layer.blobDigest)).toBe(true);
  }
}

describe('cache specs', () => {
  it('parses buildx-style --cache-to / --cache-from values', () => {
    expect(parseCacheSpec('type=registry,ref=localhost:5000/app:cache,mode=max')).toEqual({ location: { type: 'registry', ref: 'localhost:5000/app:cache' }, mode: 'max' });
    expect(parseCacheSpec('localhost:5000/app:cache')).toEqual({ location: { type: 'registry', ref: 'localhost:5000/app:cache' }, mode: 'min' });
    expect(parseCacheSpec('type=local,dest=/tmp/c')).toEqual({ location: { type: 'local', dir: '/tmp/c' }, mode: 'min' });
    expect(parseCacheSpec('type=local,src=/tmp/c')).toEqual({ location: { type: 'local', dir: '/tmp/c' }, mode: 'min' });
    expect(() => parseCacheSpec('type=gha')).toThrow(/unsupported cache type "gha"/);
    expect(() => parseCacheSpec('type=registry,ref=x,mode=all')).toThrow(/invalid cache mode/);
  });

  it('drops records whose keys could escape the cache directory', () => {
    const good = { key: sha256Digest('k'), createdAt: 'now' };
    const records = parseCacheRecords(Buffer.from(JSON.stringify([good, { key: '../../etc/x', createdAt: 'now' }, { key: sha256Digest('j') }])));
    expect(records).toEqual([good]);
  });
});

describe('registry cache', () => {
  it('exports records and layers; an empty store imports them', async () => {
    const a = await fresh();
    const records = await someRecords(a);
    const ref = `${registry.host}/cache/app:main`;
    const exported = await exportCache(a, ref, records, 'max');
    expect(exported).toMatchObject({ records: 3, layers: 2, location: ref });
    const manifest = JSON.parse(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]));
    expect(manifest.config.mediaType).toBe('application/vnd.berth.cache.config.v1+json');
    expect(manifest.annotations['io.berth.cache.mode']).toBe('max');

    const b = await fresh();
    const imported = await importCache(b, ref);
    expect(imported).toMatchObject({ found: true, records: 3, layers: 2, digest: exported.digest });
    await expectImported(b, records);
    // Importing again changes nothing: local records win.
    expect((await importCache(b, ref)).records).toBe(0);
  });

  it('a missing cache is not an error; an image is not a cache', async () => {
    const b = await fresh();
    expect(await importCache(b, `${registry.host}/cache/none:main`)).toEqual({ found: false, records: 0, layers: 0, cacheMounts: [] });
    const name = `${registry.host}/cache/image:v1`;
    await makeImage(b, [{ 'x': 'x\n' }], [name]);
    await pushImage(b, name);
    await expect(importCache(b, name)).rejects.toThrow(/is not a berth build cache/);
  });
});

describe('local cache', () => {
  it('writes an OCI layout that imports into an empty store', async () => {
    const a = await fresh();
    const records = await someRecords(a);
    const dir = join(root, 'local-cache');
    const exported = await exportCache(a, { type: 'local', dir }, records, 'min');
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    expect(index.manifests[0].digest).toBe(exported.digest);
    expect(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    // skopeo reads the layout too (it is a plain OCI layout).
    expect(JSON.parse(run('skopeo', ['inspect', '--raw', `oci:${dir}:latest`])).layers).toHaveLength(2);

    const b = await fresh();
    expect(await importCache(b, parseCacheSpec(`type=local,src=${dir}`).location)).toMatchObject({ found: true, records: 3, layers: 2 });
    await expectImported(b, records);
    expect((await importCache(b, { type: 'local', dir: join(root, 'nowhere') })).found).toBe(false);
  });
});

describe('a build on an empty store, fed by the registry cache', () => {
  async function busyboxTar(dir: string): Promise<string> {
    const tree = join(dir, 'rootfs');
    await mkdir(join(tree, 'bin'), { recursive: true });
    await mkdir(join(tree, 'etc'), { recursive: true });
    await copyFile('/usr/bin/busybox', join(tree, 'bin', 'busybox'));
    await chmod(join(tree, 'bin', 'busybox'), 0o755);
    for (const applet of ['sh', 'cat', 'echo']) await symlink('busybox', join(tree, 'bin', applet));
    await writeFile(join(tree, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    await writeFile(join(tree, 'etc', 'group'), 'root:x:0:\n');
    run('tar', ['-C', tree, '-cf', join(dir, 'rootfs.tar'), '.']);
    return join(dir, 'rootfs.tar');
  }

  async function allRecords(stores: RegistryStores): Promise<CacheRecord[]> {
    const out: CacheRecord[] = [];
    for (const sub of await readdir(stores.layout.cache)) {
      for (const file of await readdir(join(stores.layout.cache, sub))) {
        if (file.endsWith('.json')) out.push(JSON.parse(await readFile(join(stores.layout.cache, sub, file), 'utf8')) as CacheRecord);
      }
    }
    return out;
  }

  it('runs no step and yields the same image', async () => {
    const work = join(root, 'e2e');
    await mkdir(join(work, 'context'), { recursive: true });
    const base = `${registry.host}/cache/base:v1`;
    const rootA = join(work, 'store-a');
    const a = await makeStores(rootA);
    await importRootfs(a.images, await busyboxTar(work), base, { created: '2024-01-02T03:04:05Z' });
    await pushImage(a, base);
    await writeFile(join(work, 'context', 'Dockerfile'), `FROM ${base}\nRUN echo built > /one\nCOPY data /data\nRUN cat /one /data > /two\n`);
    await writeFile(join(work, 'context', 'data'), 'context data\n');
    const build = (storeRoot: string) => spawnSync(BERTH, ['--root', storeRoot, 'build', '--progress', 'plain', '-t', 'app:v1', join(work, 'context')], { encoding: 'utf8' });

    const first = build(rootA);
    expect(first.status, first.stderr).toBe(0);
    const idA = /exporting config (sha256:[a-f0-9]{64})/.exec(first.stderr)?.[1];
    const cacheRef = `${registry.host}/cache/app:buildcache`;
    expect((await exportCache(a, cacheRef, await allRecords(a), 'max')).records).toBe(3);

    const rootB = join(work, 'store-b');
    const b = await makeStores(rootB);
    await pullImage(b, base);
    expect((await importCache(b, cacheRef)).records).toBe(3);
    const second = build(rootB);
    expect(second.status, second.stderr).toBe(0);
    expect(countOutcome(second.stderr, 'CACHED')).toBe(3);
    // Only the export step does work: every build step is CACHED.
    expect(countOutcome(first.stderr, 'DONE')).toBe(3);
    expect(countOutcome(second.stderr, 'DONE')).toBe(0);
    expect(/exporting config (sha256:[a-f0-9]{64})/.exec(second.stderr)?.[1]).toBe(idA);
  });
});

describe('errors', () => {
  it('a failed import names the reference', async () => {
    const b = await fresh();
    const error = await importCache(b, '127.0.0.1:1/cache/x:y', { attempts: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryError);
    expect((error as Error).message).toContain('127.0.0.1:1');
  });
});
