import { spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasBlob, sha256Digest } from '../../src/content/index.ts';
import { readCacheRecord, writeCacheRecord, type CacheRecord } from '../../src/cache/records.ts';
import { importRootfs } from '../../src/image/commit.ts';
import { storeLayer } from '../../src/layer/store.ts';
import { parseCacheRecords } from '../../src/registry/cache.ts';
import { readVariant } from '../../src/image/layer-variants.ts';
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

/** The records arrived; a layer is kept uncompressed (its blob is its diff id), as built layers are. */
async function expectImported(stores: RegistryStores, records: CacheRecord[]): Promise<void> {
  for (const record of records) {
    const got = readCacheRecord(stores.layout.cache, record.key);
    const layer = record.layer && { ...record.layer, blobDigest: record.layer.diffId, mediaType: 'application/vnd.oci.image.layer.v1.tar' };
    expect(got).toEqual({ ...record, ...(layer ? { layer: { ...layer, blobSize: got?.layer?.blobSize } } : {}) });
    if (layer) expect(await hasBlob(stores.content, layer.blobDigest)).toBe(true);
  }
}

describe('cache specs', () => {
  it('parses buildx-style --cache-to / --cache-from values', () => {
    const gzip = { compression: 'gzip' };
    expect(parseCacheSpec('type=registry,ref=localhost:5000/app:cache,mode=max', 'export')).toEqual({ location: { type: 'registry', ref: 'localhost:5000/app:cache' }, mode: 'max', layers: gzip });
    expect(parseCacheSpec('localhost:5000/app:cache', 'export')).toEqual({ location: { type: 'registry', ref: 'localhost:5000/app:cache' }, mode: 'min', layers: gzip });
    expect(parseCacheSpec('localhost:5000/app:cache', 'import')).toEqual({ location: { type: 'registry', ref: 'localhost:5000/app:cache' }, mode: 'min' });
    expect(parseCacheSpec('type=local,dest=/tmp/c,tag=t', 'export')).toEqual({ location: { type: 'local', dir: '/tmp/c', tag: 't' }, mode: 'min', layers: gzip });
    expect(parseCacheSpec('type=local,src=/tmp/c', 'import')).toEqual({ location: { type: 'local', dir: '/tmp/c' }, mode: 'min' });
    expect(() => parseCacheSpec('type=gha', 'export')).toThrow(/unsupported cache type "gha"/);
    expect(() => parseCacheSpec('type=registry,ref=x,mode=all', 'export')).toThrow(/invalid cache mode/);
  });

  it('takes compression, compression-level, force-compression and ignore-error on --cache-to', () => {
    const spec = (text: string) => parseCacheSpec(`type=registry,ref=r/app:c,${text}`, 'export');
    expect(spec('compression=zstd,compression-level=9,force-compression=true').layers).toEqual({ compression: 'zstd', level: 9, force: true });
    expect(spec('compression=uncompressed').layers).toEqual({ compression: 'none' });
    expect(spec('compression=gzip,force-compression=false').layers).toEqual({ compression: 'gzip' });
    expect(spec('ignore-error=true')).toMatchObject({ ignoreError: true, layers: { compression: 'gzip' } });
    expect(spec('ignore-error=false').ignoreError).toBeUndefined();
    // What buildx users write for registries that want an image manifest: berth's cache is one.
    expect(spec('image-manifest=true,oci-mediatypes=true').layers).toEqual({ compression: 'gzip' });
    expect(() => spec('oci-mediatypes=false')).toThrow(/oci-mediatypes=false is not supported in --cache-to/);
    expect(() => spec('compression=lz4')).toThrow(/invalid compression "lz4" in --cache-to \(gzip, zstd or uncompressed\)/);
    expect(() => spec('compression=gzip,compression-level=12')).toThrow(/invalid compression-level "12" in --cache-to: gzip compression level must be 0 to 9/);
    expect(() => spec('compression=zstd,compression-level=x')).toThrow(/invalid compression-level "x" in --cache-to/);
    expect(() => spec('force-compression=yes')).toThrow(/invalid force-compression "yes" in --cache-to \(true or false\)/);
    expect(() => spec('ignore-error=1')).toThrow(/invalid ignore-error "1" in --cache-to \(true or false\)/);
  });

  it('names the valid keys for an unknown one, by direction and type', () => {
    expect(() => parseCacheSpec('type=registry,ref=r/a:c,compresion=zstd', 'export'))
      .toThrow('unknown key "compresion" for --cache-to type=registry (valid: type, ref, mode, compression, compression-level, force-compression, ignore-error, oci-mediatypes, image-manifest, cache-mounts, cache-mounts-max-size, cache-mount-ids)');
    expect(() => parseCacheSpec('type=local,src=/tmp/c', 'export')).toThrow(/unknown key "src" for --cache-to type=local \(valid: type, dest, tag, mode,/);
    expect(() => parseCacheSpec('type=registry,ref=r/a:c,compression=zstd', 'import')).toThrow('unknown key "compression" for --cache-from type=registry (valid: type, ref, mode, cache-mounts, cache-mounts-max-size, cache-mount-ids)');
    expect(() => parseCacheSpec('type=local,dest=/tmp/c', 'import')).toThrow('unknown key "dest" for --cache-from type=local (valid: type, src, tag, mode, cache-mounts, cache-mounts-max-size, cache-mount-ids)');
    expect(() => parseCacheSpec('type=local,tag=t', 'export')).toThrow(/--cache-to type=local needs dest=<dir>/);
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

describe('compressed cache layers', () => {
  const LAYER = 'application/vnd.oci.image.layer.v1.tar';
  it.each([['gzip', `${LAYER}+gzip`], ['zstd', `${LAYER}+zstd`], ['none', LAYER]] as const)('exports %s layers that an empty store imports as its own', async (compression, mediaType) => {
    const a = await fresh();
    const records = await someRecords(a);
    const ref = `${registry.host}/cache/compressed:${compression}`;
    const exported = await exportCache(a, ref, records, 'max', { layers: { compression } });
    const manifest = JSON.parse(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]));
    expect(manifest.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([mediaType, mediaType]);
    // The config's records name the blobs the manifest lists, in their compression.
    const config = parseCacheRecords(Buffer.from(run('skopeo', ['inspect', '--raw', '--config', '--tls-verify=false', `docker://${ref}`])));
    const named = config.flatMap((r) => (r.layer ? [r.layer] : []));
    expect(named.map((l) => l.blobDigest).sort()).toEqual(manifest.layers.map((l: { digest: string }) => l.digest).sort());
    expect(named.every((l) => l.mediaType === mediaType)).toBe(true);
    if (compression !== 'none') expect(named.every((l) => l.blobDigest !== l.diffId)).toBe(true);
    // A second export finds the compressed forms it made: same manifest.
    expect((await exportCache(a, ref, records, 'max', { layers: { compression } })).digest).toBe(exported.digest);

    const b = await fresh();
    expect(await importCache(b, ref)).toMatchObject({ found: true, records: 3, layers: 2 });
    for (const record of records) {
      const got = readCacheRecord(b.layout.cache, record.key)!;
      expect(got.layer?.diffId).toBe(record.layer?.diffId);
      if (!record.layer) continue;
      // Stored uncompressed as the exporting store has it; the cache's blob kept as its variant.
      expect(got.layer!.blobDigest).toBe(record.layer.diffId);
      expect(await hasBlob(b.content, record.layer.diffId)).toBe(true);
      const came = named.find((l) => l.diffId === record.layer!.diffId)!;
      if (compression === 'none') expect(came.blobDigest).toBe(came.diffId);
      else expect(readVariant(b.layout, came.diffId as never, compression)?.digest).toBe(came.blobDigest);
    }
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
    expect(await importCache(b, parseCacheSpec(`type=local,src=${dir}`, 'import').location)).toMatchObject({ found: true, records: 3, layers: 2 });
    await expectImported(b, records);
    expect((await importCache(b, { type: 'local', dir: join(root, 'nowhere') })).found).toBe(false);
  });
});

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


describe('a build on an empty store, fed by the registry cache', () => {
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

describe('berth build --cache-to options', () => {
  let work: string;
  let base: string;
  const dockerfile = (base: string) => `FROM ${base}\nRUN echo built > /one\nCOPY data /data\nRUN cat /one /data > /two\n`;
  const build = (storeRoot: string, ...args: string[]) => spawnSync(BERTH, ['--root', storeRoot, 'build', '--progress', 'plain', '-t', 'app:v1', ...args, join(work, 'context')], { encoding: 'utf8' });
  const digestOf = (log: string, what: string) => new RegExp(`exporting ${what} (sha256:[a-f0-9]{64})`).exec(log)?.[1];

  beforeAll(async () => {
    work = join(root, 'cli');
    await mkdir(join(work, 'context'), { recursive: true });
    base = `${registry.host}/cli/base:v1`;
    const a = await makeStores(join(work, 'store-a'));
    await importRootfs(a.images, await busyboxTar(work), base, { created: '2024-01-02T03:04:05Z' });
    await pushImage(a, base);
    await writeFile(join(work, 'context', 'Dockerfile'), dockerfile(base));
    await writeFile(join(work, 'context', 'data'), 'context data\n');
  });

  it('exports zstd layers; an empty store building with --cache-from runs no step and gets the same image', async () => {
    const cacheRef = `${registry.host}/cli/app:zstd`;
    const first = build(join(work, 'store-a'), '--cache-to', `type=registry,ref=${cacheRef},mode=max,compression=zstd,compression-level=5`);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/exported 3 cache records \(3 layers, zstd\)/);
    const manifest = JSON.parse(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${cacheRef}`]));
    expect(manifest.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual(Array(3).fill('application/vnd.oci.image.layer.v1.tar+zstd'));

    const second = build(join(work, 'store-b'), '--cache-from', `type=registry,ref=${cacheRef}`);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/imported 3 cache records/);
    expect(countOutcome(second.stderr, 'CACHED')).toBe(3);
    expect(countOutcome(second.stderr, 'DONE')).toBe(0);
    // Stored as the first store has it: one manifest digest, not one per cache compression.
    expect(digestOf(second.stderr, 'manifest')).toBe(digestOf(first.stderr, 'manifest'));
    expect(digestOf(second.stderr, 'config')).toBe(digestOf(first.stderr, 'config'));
  });

  it('fails the build when the export fails, and warns and exits 0 with ignore-error=true', () => {
    const unreachable = 'type=registry,ref=127.0.0.1:1/cli/app:cache';
    const failed = build(join(work, 'store-a'), '--cache-to', unreachable);
    expect(failed.status).toBe(1);
    expect(failed.stderr).toMatch(/failed to export cache to type=registry,ref=127\.0\.0\.1:1\/cli\/app:cache: .*127\.0\.0\.1:1.*\(add ignore-error=true to --cache-to to build on without it\)/s);
    const ignored = build(join(work, 'store-a'), '--cache-to', `${unreachable},ignore-error=true`);
    expect(ignored.status, ignored.stderr).toBe(0);
    expect(ignored.stderr).toMatch(/1 warning found:\n - failed to export cache to .*\(ignore-error=true: the build goes on\)/);
  });

  it('refuses an unknown key or value before any step runs', () => {
    const typo = build(join(work, 'store-c'), '--cache-to', `type=registry,ref=${registry.host}/cli/app:x,compresion=zstd`);
    expect(typo.status).toBe(1);
    expect(typo.stderr).toContain('unknown key "compresion" for --cache-to type=registry (valid: type, ref, mode, compression, compression-level, force-compression, ignore-error, oci-mediatypes, image-manifest, cache-mounts, cache-mounts-max-size, cache-mount-ids)');
    expect(countOutcome(typo.stderr, 'DONE')).toBe(0);
    const value = build(join(work, 'store-c'), '--cache-to', `type=local,dest=${work}/c,compression=brotli`);
    expect(value.stderr).toContain('invalid compression "brotli" in --cache-to (gzip, zstd or uncompressed)');
    const from = build(join(work, 'store-c'), '--cache-from', `type=local,src=${work}/c,ignore-error=true`);
    expect(from.stderr).toContain('unknown key "ignore-error" for --cache-from type=local (valid: type, src, tag, mode, cache-mounts, cache-mounts-max-size, cache-mount-ids)');
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
