import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage } from '../../src/image/commit.ts';
import { newImageConfig, withLayer } from '../../src/image/config.ts';
import { MediaTypes } from '../../src/image/descriptor.ts';
import { resolveImage } from '../../src/image/store.ts';
import { storeLayer } from '../../src/layer/store.ts';
import { tarStream } from '../../src/layer/tar-io.ts';
import { closeRegistryConnections, pullImage, pushImage, type RegistryStores, type TransferEvent } from '../../src/registry/index.ts';
import { makeStores, run, startRegistry, tempDir, type TestRegistry } from './helpers.ts';

// Pushes compress layers on the way out: gzip by default, zstd when asked, each layer once per
// store; a base's gzip layer goes back as the blob it came as; the manifest has OCI types only.

let registry: TestRegistry;
let root: string;
let stores: RegistryStores;

beforeAll(async () => {
  registry = await startRegistry();
  root = await tempDir('push-compressed');
  stores = await makeStores(join(root, 'store'));
});
afterAll(async () => {
  closeRegistryConnections();
  await registry?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

function tarOf(files: Record<string, Buffer>): Readable {
  return tarStream(Object.entries(files).map(([name, body]) => ({ header: { name, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 0 }, body })));
}

/** A berth-built image: a Docker-typed gzip base layer and an uncompressed layer of its own. */
async function builtImage(name: string) {
  const base = await storeLayer(stores.content, tarOf({ 'etc/base': Buffer.from('base '.repeat(100_000)) }), { compression: 'gzip' });
  const own = await storeLayer(stores.content, tarOf({
    'app/text': Buffer.from('compressible text, line after line\n'.repeat(150_000)), 'app/noise': randomBytes(1_000_000),
  }), { compression: 'none' });
  let config = newImageConfig({ created: '2024-01-01T00:00:00Z', config: { Cmd: ['sh'] } });
  config = withLayer(config, base.diffId, { created_by: 'base' });
  config = withLayer(config, own.diffId, { created_by: 'COPY app /app' });
  await writeImage(stores.images, config, [{ ...base, mediaType: MediaTypes.dockerLayerGzip }, { ...own, mediaType: MediaTypes.ociLayer }], { names: [name] });
  return { base, own };
}

const skopeo = (args: string[]) => run('skopeo', ['--insecure-policy', ...args]);

describe('pushing compressed layers', () => {
  let built: Awaited<ReturnType<typeof builtImage>>;
  beforeAll(async () => {
    built = await builtImage(`${registry.host}/app/one:gzip`);
  });

  it('pushes gzip by default with OCI types only, then a second push uploads and compresses nothing', async () => {
    const events: TransferEvent[] = [];
    const first = await pushImage(stores, `${registry.host}/app/one:gzip`, { onProgress: (e) => events.push(e) });
    expect(first.compressed).toBe(1);
    const manifest = JSON.parse(skopeo(['inspect', '--tls-verify=false', '--raw', `docker://${registry.host}/app/one:gzip`]));
    expect(manifest.mediaType).toBe(MediaTypes.ociManifest);
    expect(manifest.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([MediaTypes.ociLayerGzip, MediaTypes.ociLayerGzip]);
    expect(manifest.layers[0].digest).toBe(built.base.digest);
    expect(manifest.layers[1].size).toBeLessThan(built.own.size / 2);
    expect(events.filter((e) => e.kind === 'uploaded').length).toBe(3);

    const again: TransferEvent[] = [];
    const second = await pushImage(stores, `${registry.host}/app/one:gzip`, { onProgress: (e) => again.push(e) });
    expect(second.compressed).toBe(0);
    expect(second.digest).toBe(first.digest);
    expect(again.filter((e) => e.kind === 'uploading' || e.kind === 'uploaded')).toEqual([]);
  });

  it('pushes zstd when asked; skopeo copies it to an OCI layout whose layers zstd and tar read', async () => {
    const pushed = await pushImage(stores, `${registry.host}/app/one:zstd`, { source: `${registry.host}/app/one:gzip`, compression: 'zstd', compressionLevel: 9 });
    expect(pushed.compressed).toBe(2); // the base's gzip layer is recompressed too
    const manifest = JSON.parse(skopeo(['inspect', '--tls-verify=false', '--raw', `docker://${registry.host}/app/one:zstd`]));
    expect(manifest.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([MediaTypes.ociLayerZstd, MediaTypes.ociLayerZstd]);
    const layout = join(root, 'layout');
    skopeo(['copy', '--src-tls-verify=false', `docker://${registry.host}/app/one:zstd`, `oci:${layout}:zstd`]);
    // (umoci 0.4.7, Debian's, predates zstd layers: it refuses the media type whoever wrote them.)
    const blob = (d: string) => join(layout, 'blobs', 'sha256', d.replace('sha256:', ''));
    for (const layer of manifest.layers) run('zstd', ['-q', '-t', blob(layer.digest)]);
    expect(run('sh', ['-c', `zstd -dc '${blob(manifest.layers[1].digest)}' | tar -t`]).split('\n')).toEqual(['app/text', 'app/noise', '']);
    // A fresh store pulls it back to the same layers (diff ids) as the original.
    const fresh = await makeStores(join(root, 'fresh'));
    const pulled = await pullImage(fresh, `${registry.host}/app/one:zstd`);
    const image = await resolveImage(fresh.images, pulled.manifestDigest);
    expect(image!.config.rootfs.diff_ids).toEqual([built.base.diffId, built.own.diffId]);
  });

  it('the gzip image passes umoci and converts to docker-archive with skopeo', async () => {
    const layout = join(root, 'layout');
    skopeo(['copy', '--src-tls-verify=false', `docker://${registry.host}/app/one:gzip`, `oci:${layout}:gzip`]);
    run('umoci', ['unpack', '--image', `${layout}:gzip`, join(root, 'bundle-gzip')]);
    expect(readFileSync(join(root, 'bundle-gzip', 'rootfs', 'app', 'text'), 'utf8').split('\n')[0]).toBe('compressible text, line after line');
    const archive = join(root, 'one.tar');
    skopeo(['copy', '--src-tls-verify=false', `docker://${registry.host}/app/one:gzip`, `docker-archive:${archive}:app/one:gzip`]);
    expect(run('tar', ['-tf', archive])).toContain('manifest.json');
  });

  it('pushes uncompressed when asked, and Docker media types when asked', async () => {
    const plain = await pushImage(stores, `${registry.host}/app/one:plain`, { source: `${registry.host}/app/one:gzip`, compression: 'none', family: 'docker' });
    expect(plain.compressed).toBe(1); // the base's gzip layer, decompressed to its diff id
    const manifest = JSON.parse(skopeo(['inspect', '--tls-verify=false', '--raw', `docker://${registry.host}/app/one:plain`]));
    expect(manifest.mediaType).toBe(MediaTypes.dockerManifest);
    expect(manifest.config.mediaType).toBe(MediaTypes.dockerConfig);
    expect(manifest.layers.map((l: { mediaType: string; digest: string }) => [l.mediaType, l.digest])).toEqual([
      [MediaTypes.dockerLayer, built.base.diffId], [MediaTypes.dockerLayer, built.own.diffId],
    ]);
  });
});
