import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hasBlob } from '../../src/content/store.ts';
import { importRootfs, writeImage } from '../../src/image/commit.ts';
import { newImageConfig, parseImageConfig } from '../../src/image/config.ts';
import {
  findImage,
  getImageRecord,
  listImages,
  listTags,
  openImageStore,
  referencedBlobs,
  removeImage,
  resolveImage,
  tagImage,
  untagImage,
  type ImageStore,
} from '../../src/image/store.ts';
import { readBlob } from '../../src/content/store.ts';
import { CREATED, makeImage } from './helpers.ts';

let root: string;
let store: ImageStore;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-images-'));
  store = openImageStore(root);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('writing images', () => {
  it('gives the same digests for the same layers and config', async () => {
    const a = await makeImage(store, { 'etc/hello': 'hi' });
    const other = openImageStore(join(root, 'other'));
    const b = await makeImage(other, { 'etc/hello': 'hi' });
    expect(b.descriptor.digest).toBe(a.descriptor.digest);
    expect(b.config.digest).toBe(a.config.digest);
    const c = await makeImage(store, { 'etc/hello': 'hi!' });
    expect(c.descriptor.digest).not.toBe(a.descriptor.digest);
    const config = parseImageConfig(await readBlob(store.content, a.config.digest));
    expect(config).toMatchObject({ architecture: 'amd64', os: 'linux', created: CREATED, config: { Cmd: ['sh'] } });
    expect(config.history?.map((h) => h.created_by)).toEqual(['COPY . / # buildkit', 'CMD ["sh"]']);
    expect(config.history?.[1].empty_layer).toBe(true);
  });

  it('refuses configs that do not match their layers', async () => {
    const image = await makeImage(store, { f: 'x' });
    const layer = image.manifest.layers[0];
    await expect(writeImage(store, newImageConfig({ created: CREATED }), [layer])).rejects.toThrow(/0 diff_ids for 1 layers/);
  });
});

describe('tags and lookup', () => {
  it('resolves names, IDs, digests and prefixes', async () => {
    const image = await makeImage(store, { f: 'x' }, ['busybox:local', 'differ/p01']);
    const digest = image.descriptor.digest;
    expect((await listTags(store)).map((t) => t.name)).toEqual(['docker.io/differ/p01:latest', 'docker.io/library/busybox:local']);
    for (const ref of [
      'busybox:local',
      'docker.io/library/busybox:local',
      'differ/p01',
      'differ/p01:latest',
      digest,
      image.config.digest,
      image.config.digest.slice(7, 19),
      digest.slice(7, 19),
      `busybox@${digest}`,
    ]) {
      expect((await findImage(store, ref))?.digest, ref).toBe(digest);
    }
    expect(await findImage(store, 'busybox')).toBeUndefined();
    expect(await findImage(store, 'sha256:' + 'f'.repeat(64))).toBeUndefined();
    const resolved = await resolveImage(store, 'busybox:local');
    expect(resolved?.names.sort()).toEqual(['docker.io/differ/p01:latest', 'docker.io/library/busybox:local']);
    expect(resolved?.config.rootfs.diff_ids).toHaveLength(1);
    const listed = await listImages(store);
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ digest, config: image.config.digest });
  });

  it('moves tags and keeps concurrent taggers from losing each other', async () => {
    const a = await makeImage(store, { f: 'a' }, ['app']);
    const b = await makeImage(store, { f: 'b' });
    await tagImage(store, 'app', b.descriptor.digest);
    expect((await findImage(store, 'app'))?.digest).toBe(b.descriptor.digest);
    await Promise.all(Array.from({ length: 20 }, (_, i) => tagImage(store, `app:v${i}`, a.descriptor.digest)));
    expect(await listTags(store)).toHaveLength(21);
    expect(await untagImage(store, 'app:v3')).toBe(true);
    expect(await untagImage(store, 'app:v3')).toBe(false);
    await expect(tagImage(store, 'x', 'sha256:' + '0'.repeat(64) as `sha256:${string}`)).rejects.toThrow(/no image/);
    await expect(tagImage(store, `app@${a.descriptor.digest}`, a.descriptor.digest)).rejects.toThrow(/digest/);
    expect((await readdir(join(root, 'tags'))).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('looks up a name or a whole manifest digest by its own file, whatever else the store holds', async () => {
    const image = await makeImage(store, { f: 'x' }, ['busybox:local']);
    const long = `registry.example/${'a'.repeat(100)}/${'b'.repeat(100)}:v1`;
    await tagImage(store, long, image.descriptor.digest);
    // Records nobody asked for are not read (a store with many images stays as fast).
    await writeFile(join(root, 'tags', 'unrelated.json'), '{ not json');
    await writeFile(join(root, 'images', 'unrelated.json'), '{ not json');
    expect((await findImage(store, 'busybox:local'))?.digest).toBe(image.descriptor.digest);
    expect((await findImage(store, long))?.digest).toBe(image.descriptor.digest);
    expect((await findImage(store, image.descriptor.digest))?.digest).toBe(image.descriptor.digest);
    expect(await findImage(store, 'busybox:other')).toBeUndefined();
  });

  it('leaves a tag that already points at the image untouched', async () => {
    const a = await makeImage(store, { f: 'a' }, ['app']);
    const b = await makeImage(store, { f: 'b' });
    const file = join(root, 'tags', (await readdir(join(root, 'tags')))[0]);
    const before = await stat(file);
    await tagImage(store, 'app', a.descriptor.digest);
    await tagImage(store, 'docker.io/library/app:latest', a.descriptor.digest);
    expect((await stat(file)).ino).toBe(before.ino);
    await tagImage(store, 'app', b.descriptor.digest);
    expect((await stat(file)).ino).not.toBe(before.ino);
    expect((await findImage(store, 'app'))?.digest).toBe(b.descriptor.digest);
  });

  it('removes like docker rmi', async () => {
    const image = await makeImage(store, { f: 'x' }, ['one', 'two']);
    const id = image.config.digest.slice(7, 19);
    await expect(removeImage(store, id)).rejects.toThrow(/referenced by one:latest, two:latest/);
    expect(await removeImage(store, 'one')).toEqual({ untagged: ['one:latest'] });
    expect(await getImageRecord(store, image.descriptor.digest)).toBeDefined();
    expect(await removeImage(store, 'two')).toEqual({ untagged: ['two:latest'], deleted: image.descriptor.digest });
    expect(await getImageRecord(store, image.descriptor.digest)).toBeUndefined();
    // Blobs stay: the build cache may still use them.
    expect(await hasBlob(store.content, image.manifest.layers[0].digest)).toBe(true);
    await expect(removeImage(store, 'two')).rejects.toThrow(/no such image/);

    const forced = await makeImage(store, { f: 'y' }, ['three', 'four']);
    expect((await removeImage(store, forced.descriptor.digest, { force: true })).untagged.sort()).toEqual(['four:latest', 'three:latest']);
    expect(await listTags(store)).toEqual([]);
  });

  it('reports the blobs images need', async () => {
    const image = await makeImage(store, { f: 'x' });
    const blobs = await referencedBlobs(store);
    expect(blobs).toEqual(new Set([image.descriptor.digest, image.config.digest, image.manifest.layers[0].digest]));
  });
});

describe('importRootfs', () => {
  it('makes a one-layer image from a plain or compressed rootfs tar', async () => {
    const tree = join(root, 'rootfs');
    await mkdir(join(tree, 'bin'), { recursive: true });
    await writeFile(join(tree, 'bin', 'sh'), '#!');
    await utimes(join(tree, 'bin', 'sh'), 1e9, 1e9);
    await utimes(join(tree, 'bin'), 1e9, 1e9);
    execFileSync('tar', ['--sort=name', '--numeric-owner', '-C', tree, '-cf', join(root, 'rootfs.tar'), '.']);
    execFileSync('gzip', ['-k', join(root, 'rootfs.tar')]);
    const plain = await importRootfs(store, join(root, 'rootfs.tar'), 'imported:plain', { created: CREATED });
    const gz = await importRootfs(store, join(root, 'rootfs.tar.gz'), 'imported:gz', { created: CREATED, comment: 'Imported from rootfs.tar' });
    expect(gz.descriptor.digest).toBe(plain.descriptor.digest);
    const resolved = await resolveImage(store, 'imported:gz');
    expect(resolved?.config.history).toEqual([{ created: CREATED, comment: 'Imported from rootfs.tar' }]);
    expect(resolved?.manifest.layers[0].mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
  });
});
