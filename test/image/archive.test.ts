import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Digest } from '../../src/content/digest.ts';
import { loadArchive } from '../../src/image/archive-load.ts';
import { saveDockerArchive, saveOciArchive } from '../../src/image/archive-save.ts';
import { findImage, listTags, openImageStore, resolveImage, type ImageStore } from '../../src/image/store.ts';
import { packTar, readTar, type TarInput } from '../../src/layer/tar-io.ts';
import { makeImage } from './helpers.ts';

let root: string;
let store: ImageStore;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-archive-'));
  store = openImageStore(join(root, 'store'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function tarBytes(entries: TarInput[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of packTar(entries)) parts.push(part);
  return Buffer.concat(parts);
}

async function members(file: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for await (const { header, body } of readTar(Readable.from([await readFile(file)]))) {
    const parts: Buffer[] = [];
    for await (const part of body) parts.push(part);
    out.set(header.name, Buffer.concat(parts));
  }
  return out;
}

const f = (name: string, data: Buffer | string): TarInput => {
  const body = Buffer.from(data);
  return { header: { name, type: 'file', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 0 }, body };
};

describe('saving', () => {
  it('writes a docker-archive that is also an OCI layout, deterministically', async () => {
    const image = await makeImage(store, { 'etc/os-release': 'berth' }, ['busybox:local', 'differ/p01']);
    const out = join(root, 'image.tar');
    await saveDockerArchive(store, ['busybox:local', 'differ/p01:latest'], out);
    const files = await members(out);
    const manifest = JSON.parse(files.get('manifest.json')!.toString());
    expect(manifest).toEqual([{
      Config: `blobs/sha256/${image.config.digest.slice(7)}`,
      RepoTags: ['busybox:local', 'differ/p01:latest'],
      Layers: [`blobs/sha256/${image.manifest.layers[0].digest.slice(7)}`],
    }]);
    expect(JSON.parse(files.get('oci-layout')!.toString())).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(files.get('index.json')!.toString());
    expect(index.manifests.map((m: { digest: string; annotations: Record<string, string> }) => [m.digest, m.annotations])).toEqual([
      [image.descriptor.digest, { 'io.containerd.image.name': 'docker.io/library/busybox:local', 'org.opencontainers.image.ref.name': 'local' }],
      [image.descriptor.digest, { 'io.containerd.image.name': 'docker.io/differ/p01:latest', 'org.opencontainers.image.ref.name': 'latest' }],
    ]);
    for (const [name, data] of files) {
      if (name.startsWith('blobs/sha256/') && name.length > 'blobs/sha256/'.length) expect(sha256Digest(data)).toBe(`sha256:${name.slice(13)}`);
    }
    const again = join(root, 'again.tar');
    await saveDockerArchive(store, ['busybox:local', 'differ/p01:latest'], again);
    expect((await readFile(again)).equals(await readFile(out))).toBe(true);
    await expect(saveDockerArchive(store, ['nope'], join(root, 'x.tar'))).rejects.toThrow(/no such image: nope/);
  });

  it('round-trips docker and OCI archives through load', async () => {
    const image = await makeImage(store, { 'bin/app': 'app' }, ['app:1']);
    await saveDockerArchive(store, ['app:1'], join(root, 'docker.tar'));
    await saveOciArchive(store, ['app:1'], join(root, 'oci.tar'));
    expect((await members(join(root, 'oci.tar'))).has('manifest.json')).toBe(false);
    for (const file of ['docker.tar', 'oci.tar']) {
      const fresh = openImageStore(join(root, `load-${file}`));
      const loaded = await loadArchive(fresh, join(root, file));
      expect(loaded).toEqual([{ digest: image.descriptor.digest, names: ['docker.io/library/app:1'] }]);
      const resolved = await resolveImage(fresh, 'app:1');
      expect(resolved?.config.rootfs.diff_ids).toEqual((await resolveImage(store, 'app:1'))?.config.rootfs.diff_ids);
    }
    // A gzip-compressed archive (docker save | gzip) loads the same.
    await writeFile(join(root, 'docker.tar.gz'), gzipSync(await readFile(join(root, 'docker.tar'))));
    const zipped = openImageStore(join(root, 'load-gz'));
    expect((await loadArchive(zipped, join(root, 'docker.tar.gz')))[0].digest).toBe(image.descriptor.digest);
  });

  it('saves images named by ID without names', async () => {
    const image = await makeImage(store, { a: 'a' }, ['named']);
    await saveDockerArchive(store, [image.config.digest.slice(7, 19)], join(root, 'id.tar'));
    const manifest = JSON.parse((await members(join(root, 'id.tar'))).get('manifest.json')!.toString());
    expect(manifest[0].RepoTags).toBeNull();
  });
});

describe('loading Docker 1.10–24 archives', () => {
  async function legacyArchive(options: { corruptDiffId?: boolean } = {}) {
    const layerTar = await tarBytes([f('etc/hostname', 'legacy\n')]);
    const diffId = sha256Digest(layerTar);
    const config = Buffer.from(JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '2020-01-01T00:00:00Z',
      config: { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: [options.corruptDiffId ? sha256Digest('other') : diffId, diffId] },
      history: [{ created_by: 'ADD file' }, { created_by: 'ADD again' }],
    }));
    const configHex = sha256Digest(config).slice(7);
    const id1 = 'b'.repeat(64);
    const id2 = 'c'.repeat(64);
    const archive = await tarBytes([
      f(`${id1}/VERSION`, '1.0'),
      f(`${id1}/json`, JSON.stringify({ id: id1 })),
      f(`${id1}/layer.tar`, layerTar),
      f(`${id2}/json`, JSON.stringify({ id: id2, parent: id1 })),
      // Docker dedups identical layers with a symlink.
      { header: { name: `${id2}/layer.tar`, type: 'symlink', linkname: `../${id1}/layer.tar`, mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 0 } },
      f(`${configHex}.json`, config),
      f('manifest.json', JSON.stringify([{ Config: `${configHex}.json`, RepoTags: ['legacy:v1'], Layers: [`${id1}/layer.tar`, `${id2}/layer.tar`] }])),
      f('repositories', JSON.stringify({ legacy: { v1: id2 } })),
    ]);
    return { archive, configDigest: sha256Digest(config), diffId };
  }

  it('keeps the config bytes (so the image ID matches Docker) and checks diff_ids', async () => {
    const { archive, configDigest, diffId } = await legacyArchive();
    const loaded = await loadArchive(store, Readable.from([archive]));
    expect(loaded).toHaveLength(1);
    expect(loaded[0].names).toEqual(['docker.io/library/legacy:v1']);
    const resolved = await resolveImage(store, 'legacy:v1');
    expect(resolved?.record.config).toBe(configDigest);
    expect(resolved?.manifest.layers.map((l) => [l.digest, l.mediaType])).toEqual([
      [diffId, 'application/vnd.oci.image.layer.v1.tar'],
      [diffId, 'application/vnd.oci.image.layer.v1.tar'],
    ]);
    expect(await findImage(store, configDigest.slice(7, 19))).toBeDefined();
  });

  it('refuses a layer whose content does not match the config', async () => {
    const { archive } = await legacyArchive({ corruptDiffId: true });
    await expect(loadArchive(store, Readable.from([archive]))).rejects.toThrow(/has diff_id/);
  });

  it('refuses blobs whose bytes do not match their names', async () => {
    const archive = await tarBytes([f(`blobs/sha256/${'d'.repeat(64)}`, 'not that'), f('index.json', '{"schemaVersion":2,"manifests":[]}')]);
    await expect(loadArchive(store, Readable.from([archive]))).rejects.toThrow(/digest mismatch/);
  });

  it('reads pre-1.10 archives from repositories and the layer json chain', async () => {
    const layerTar = await tarBytes([f('a', 'a')]);
    const top = 'e'.repeat(64);
    const archive = await tarBytes([
      f(`${top}/json`, JSON.stringify({ id: top, created: '2015-01-01T00:00:00Z', os: 'linux', config: { Cmd: ['true'] }, container_config: { Cmd: ['/bin/sh', '-c', '#(nop) ADD a'] } })),
      f(`${top}/layer.tar`, layerTar),
      f('repositories', JSON.stringify({ 'old/app': { latest: top } })),
    ]);
    const loaded = await loadArchive(store, Readable.from([archive]));
    expect(loaded[0].names).toEqual(['docker.io/old/app:latest']);
    const resolved = await resolveImage(store, 'old/app');
    expect(resolved?.config.rootfs.diff_ids).toEqual([sha256Digest(layerTar)]);
    expect(resolved?.config.config?.Cmd).toEqual(['true']);
    expect(resolved?.config.history?.[0].created_by).toBe('/bin/sh -c #(nop) ADD a');
  });

  it('says so when a file is no image archive', async () => {
    await expect(loadArchive(store, Readable.from([await tarBytes([f('hello', 'x')])]))).rejects.toThrow(/not an image archive/);
    expect(await listTags(store)).toEqual([]);
  });
});
