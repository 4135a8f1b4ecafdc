import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blobPath, hasBlob, openContentStore, readBlob, type ContentStore } from '../../src/content/store.ts';
import type { Digest } from '../../src/content/digest.ts';
import { writeImage } from '../../src/image/commit.ts';
import { newImageConfig, withLayer } from '../../src/image/config.ts';
import { MediaTypes } from '../../src/image/descriptor.ts';
import { distributionImage } from '../../src/image/distribute.ts';
import { layerBlob, readVariant } from '../../src/image/layer-variants.ts';
import { openImageStore, removeImage, type ImageStore } from '../../src/image/store.ts';
import { storeLayer } from '../../src/layer/store.ts';
import { tarStream } from '../../src/layer/tar-io.ts';
import { prune, storeUsage } from '../../src/store/gc.ts';
import { ensureStore, storeLayout, type StoreLayout } from '../../src/store/layout.ts';

let root: string;
let layout: StoreLayout;
let content: ContentStore;
let images: ImageStore;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'berth-variants-'));
  layout = ensureStore(storeLayout(root));
  content = openContentStore(root);
  images = openImageStore(root, content);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function tarOf(name: string, body: Buffer): Readable {
  return tarStream([{ header: { name, type: 'file', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 0 }, body }]);
}

/** An image as berth builds them: one uncompressed layer (OCI type) and one gzip layer of a Docker base. */
async function builtImage(name: string) {
  const base = await storeLayer(content, tarOf('base.txt', Buffer.from('base layer '.repeat(50_000))), { compression: 'gzip' });
  const own = await storeLayer(content, tarOf('app.bin', Buffer.concat([Buffer.from('text '.repeat(200_000)), randomBytes(300_000)])), { compression: 'none' });
  let config = newImageConfig({ created: '2024-01-01T00:00:00Z' });
  config = withLayer(config, base.diffId, { created_by: 'base' });
  config = withLayer(config, own.diffId, { created_by: 'COPY app.bin /' });
  const written = await writeImage(images, config, [
    { ...base, mediaType: MediaTypes.dockerLayerGzip },
    { ...own, mediaType: MediaTypes.ociLayer },
  ], { names: [name] });
  return { base, own, written };
}

const stores = () => ({ layout, content });

describe('layer variants', () => {
  it('compresses a layer once; the next ask finds the recorded blob', async () => {
    const { own } = await builtImage('docker.io/library/app:1');
    const layer = { diffId: own.diffId, digest: own.digest, size: own.size };
    const first = await layerBlob(stores(), layer, { compression: 'gzip', chunkSize: 256 * 1024 });
    expect(first.made).toBe(true);
    expect(first.digest).not.toBe(own.diffId);
    expect(gunzipSync(await readBlob(content, first.digest)).equals(await readBlob(content, own.digest))).toBe(true);
    expect(readVariant(layout, own.diffId, 'gzip')).toMatchObject({ digest: first.digest, level: 6, size: first.size });
    const again = await layerBlob(stores(), layer, { compression: 'gzip', chunkSize: 256 * 1024 });
    expect(again).toEqual({ ...first, made: false });
    // Forcing another level compresses again; forcing the recorded one does not.
    expect((await layerBlob(stores(), layer, { compression: 'gzip', level: 6, force: true, chunkSize: 256 * 1024 })).made).toBe(false);
    const level1 = await layerBlob(stores(), layer, { compression: 'gzip', level: 1, force: true });
    expect(level1.made).toBe(true);
    expect(level1.digest).not.toBe(first.digest);
    const zstd = await layerBlob(stores(), layer, { compression: 'zstd' });
    expect(zstdDecompressSync(await readBlob(content, zstd.digest)).equals(await readBlob(content, own.digest))).toBe(true);
  });

  it('gives a gzip layer back as the very blob it is, and decompresses it to its diff id when asked', async () => {
    const { base } = await builtImage('docker.io/library/app:1');
    const layer = { diffId: base.diffId, digest: base.digest, size: base.size };
    expect(await layerBlob(stores(), layer, { compression: 'gzip', level: 9 })).toEqual({ digest: base.digest, size: base.size, compression: 'gzip', made: false });
    const plain = await layerBlob(stores(), layer, { compression: 'none' });
    expect(plain).toMatchObject({ digest: base.diffId, made: true });
    expect(await hasBlob(content, base.diffId)).toBe(true);
    // Forced, the pulled blob (of unknown level) is compressed again by berth.
    const forced = await layerBlob(stores(), layer, { compression: 'gzip', force: true, level: 1 });
    expect(forced.made).toBe(true);
    expect(forced.digest).not.toBe(base.digest);
    expect(readVariant(layout, base.diffId, 'gzip')).toMatchObject({ digest: forced.digest, level: 1 });
  });

  it('refuses a blob that does not decompress to its diff id', async () => {
    const { base, own } = await builtImage('docker.io/library/app:1');
    await expect(layerBlob(stores(), { diffId: own.diffId, digest: base.digest, size: base.size }, { compression: 'zstd' })).rejects.toThrow(/decompressed to content with digest/);
    expect(readVariant(layout, own.diffId, 'zstd')).toBeUndefined();
  });
});

describe('distributionImage', () => {
  it('writes one media-type family, gzip layers, the same config; the store keeps its image', async () => {
    const { base, own, written } = await builtImage('docker.io/library/app:1');
    const oci = await distributionImage(stores(), written.descriptor.digest, { compression: 'gzip', family: 'oci' });
    expect(oci.compressed).toBe(1);
    expect(oci.manifest.mediaType).toBe(MediaTypes.ociManifest);
    expect(oci.manifest.config.digest).toBe(written.config.digest);
    expect(oci.manifest.layers.map((l) => l.mediaType)).toEqual([MediaTypes.ociLayerGzip, MediaTypes.ociLayerGzip]);
    expect(oci.manifest.layers[0].digest).toBe(base.digest);
    expect(oci.descriptor.digest).not.toBe(written.descriptor.digest);
    expect((await readBlob(content, oci.descriptor.digest)).equals(oci.bytes)).toBe(true);
    const docker = await distributionImage(stores(), written.descriptor.digest, { compression: 'gzip', family: 'docker' });
    expect(docker.compressed).toBe(0);
    expect(docker.manifest.mediaType).toBe(MediaTypes.dockerManifest);
    expect(docker.manifest.config.mediaType).toBe(MediaTypes.dockerConfig);
    expect(docker.manifest.layers.map((l) => l.mediaType)).toEqual([MediaTypes.dockerLayerGzip, MediaTypes.dockerLayerGzip]);
    const plain = await distributionImage(stores(), written.descriptor.digest, { compression: 'none', family: 'oci' });
    expect(plain.manifest.layers.map((l) => [l.mediaType, l.digest])).toEqual([[MediaTypes.ociLayer, base.diffId], [MediaTypes.ociLayer, own.diffId]]);
  });

  it('sends an image that needs no change as its own manifest bytes', async () => {
    const base = await storeLayer(content, tarOf('a', Buffer.from('a')), { compression: 'gzip' });
    const config = withLayer(newImageConfig({ created: '2024-01-01T00:00:00Z' }), base.diffId, {});
    const written = await writeImage(images, config, [{ ...base, mediaType: MediaTypes.dockerLayerGzip }], { family: 'docker' });
    const out = await distributionImage(stores(), written.descriptor.digest, { compression: 'gzip', family: 'docker' });
    expect(out.descriptor.digest).toBe(written.descriptor.digest);
  });
});

describe('prune and layer variants', () => {
  it('keeps a variant with its image, drops record and blob with it, and drops records of lost blobs', async () => {
    const { own, written } = await builtImage('docker.io/library/app:1');
    const out = await distributionImage(stores(), written.descriptor.digest, { compression: 'zstd', family: 'oci' });
    const zstd = out.manifest.layers[1].digest as Digest;
    // berth du: the outgoing manifest is reclaimable, the compressed forms stay with the image.
    expect((await storeUsage(layout, content, images)).blobs.reclaimable).toBe(out.bytes.length);
    await prune(layout, content, images, { all: false });
    expect(await hasBlob(content, zstd)).toBe(true);
    expect(readVariant(layout, own.diffId, 'zstd')?.digest).toBe(zstd);
    // A record whose blob went missing is dropped by the next prune.
    rmSync(blobPath(content, zstd));
    writeFileSync(join(layout.layerVariants, 'not-a-record.txt'), 'x');
    await prune(layout, content, images, { all: false });
    expect(readVariant(layout, own.diffId, 'zstd')).toBeUndefined();
    await distributionImage(stores(), written.descriptor.digest, { compression: 'zstd', family: 'oci' });
    expect(await hasBlob(content, zstd)).toBe(true);
    await removeImage(images, 'docker.io/library/app:1');
    await prune(layout, content, images, { all: false });
    expect(await hasBlob(content, zstd)).toBe(false);
    expect(readdirSync(layout.layerVariants).filter((n) => n.endsWith('.json'))).toEqual([]);
    expect(existsSync(join(layout.layerVariants, 'not-a-record.txt'))).toBe(true);
  });
});
