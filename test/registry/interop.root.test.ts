import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaTypes } from '../../src/image/descriptor.ts';
import { resolveImage } from '../../src/image/store.ts';
import { closeRegistryConnections, pullImage, pushImage } from '../../src/registry/index.ts';
import { makeImage, makeStores, run, startRegistry, tempDir, type TestRegistry } from './helpers.ts';

// Other tools and berth agree over a registry: skopeo inspects and copies what berth pushes;
// berth pulls (and builds upon) what skopeo pushes from an OCI layout made by hand here.

const BERTH = join(import.meta.dirname, '..', '..', 'bin', 'berth');
let registry: TestRegistry;
let root: string;

beforeAll(async () => {
  registry = await startRegistry();
  root = await tempDir('interop');
});
afterAll(async () => {
  closeRegistryConnections();
  await registry?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function skopeo(args: string[]): string {
  return run('skopeo', ['--insecure-policy', ...args]);
}

interface Blob {
  mediaType: string;
  digest: string;
  size: number;
}

async function putBlob(layout: string, bytes: Buffer, mediaType: string): Promise<Blob> {
  const digest = sha256(bytes);
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(layout, 'blobs', 'sha256', digest.slice(7)), bytes);
  return { mediaType, digest, size: bytes.length };
}

/** A busybox rootfs with a passwd file and /etc/hello, as a gzipped tar made by tar(1). */
async function rootfsLayer(dir: string, hello: string): Promise<{ gz: Buffer; diffId: string }> {
  const tree = join(dir, 'rootfs');
  await mkdir(join(tree, 'bin'), { recursive: true });
  await mkdir(join(tree, 'etc'), { recursive: true });
  await copyFile('/usr/bin/busybox', join(tree, 'bin', 'busybox'));
  await chmod(join(tree, 'bin', 'busybox'), 0o755);
  for (const applet of ['sh', 'cat']) await symlink('busybox', join(tree, 'bin', applet));
  await writeFile(join(tree, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(tree, 'etc', 'group'), 'root:x:0:\n');
  await writeFile(join(tree, 'etc', 'hello'), hello);
  const tarFile = join(dir, 'layer.tar');
  run('tar', ['-C', tree, '--sort=name', '--mtime=@1700000000', '--owner=0', '--group=0', '-cf', tarFile, '.']);
  const tar = await readFile(tarFile);
  return { gz: gzipSync(tar), diffId: sha256(tar) };
}

/** An OCI image in `layout` for `architecture`; returns its manifest descriptor. */
async function layoutImage(layout: string, work: string, architecture: string, hello: string): Promise<Blob> {
  await mkdir(work, { recursive: true });
  const layer = await rootfsLayer(work, hello);
  const layerBlob = await putBlob(layout, layer.gz, MediaTypes.ociLayerGzip);
  const config = {
    created: '2024-01-02T03:04:05Z', architecture, os: 'linux',
    config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    history: [{ created: '2024-01-02T03:04:05Z', created_by: 'hand-made layout' }],
  };
  const configBlob = await putBlob(layout, Buffer.from(JSON.stringify(config)), MediaTypes.ociConfig);
  const manifest = { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: configBlob, layers: [layerBlob] };
  return putBlob(layout, Buffer.from(JSON.stringify(manifest)), MediaTypes.ociManifest);
}

async function writeIndex(layout: string, entries: Array<Blob & Record<string, unknown>>): Promise<void> {
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: entries }));
}

describe('skopeo reads what berth pushes', () => {
  it('inspects the manifest, config and layers, and copies the image out', async () => {
    const stores = await makeStores(join(root, 'push-store'));
    const name = `${registry.host}/interop/berth:v1`;
    const image = await makeImage(stores, [{ 'etc/greeting': 'from berth\n' }, { 'bin/x': 'x\n' }], [name]);
    const pushed = await pushImage(stores, name);
    const inspected = JSON.parse(skopeo(['inspect', '--tls-verify=false', `docker://${name}`]));
    expect(inspected.Digest).toBe(pushed.digest);
    expect(inspected.Layers).toEqual(image.manifest.layers.map((l) => l.digest));
    expect(inspected.Architecture).toBe('amd64');
    expect(inspected.Os).toBe('linux');
    const raw = skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${name}`]);
    expect(sha256(Buffer.from(raw))).toBe(pushed.digest);
    const config = JSON.parse(skopeo(['inspect', '--config', '--tls-verify=false', `docker://${name}`]));
    expect(config.config.Cmd).toEqual(['sh']);
    const out = join(root, 'copied');
    skopeo(['copy', '--src-tls-verify=false', `docker://${name}`, `oci:${out}:v1`]);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    expect(index.manifests[0].digest).toBe(pushed.digest);
  });
});

describe('berth reads what skopeo pushes', () => {
  let layout: string;
  let single: Blob;

  beforeAll(async () => {
    layout = join(root, 'layout');
    single = await layoutImage(layout, join(root, 'work-amd64'), 'amd64', 'hello from skopeo\n');
    const arm = await layoutImage(layout, join(root, 'work-arm64'), 'arm64', 'hello from arm\n');
    const multi = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [
      { ...arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { ...single, platform: { os: 'linux', architecture: 'amd64' } },
    ] };
    const multiBlob = await putBlob(layout, Buffer.from(JSON.stringify(multi)), MediaTypes.ociIndex);
    await writeIndex(layout, [
      { ...single, annotations: { 'org.opencontainers.image.ref.name': 'v1' } },
      { ...multiBlob, annotations: { 'org.opencontainers.image.ref.name': 'multi' } },
    ]);
  });

  it('pulls an OCI image copied from a layout, byte for byte', async () => {
    skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${registry.host}/interop/skopeo:v1`]);
    const stores = await makeStores(join(root, 'pull-oci'));
    const pulled = await pullImage(stores, `${registry.host}/interop/skopeo:v1`);
    expect(pulled.manifestDigest).toBe(single.digest);
    const image = await resolveImage(stores.images, `${registry.host}/interop/skopeo:v1`);
    expect(image?.config.config?.Cmd).toEqual(['/bin/sh']);
    expect(image?.manifest.layers).toHaveLength(1);
  });

  it('pulls a Docker v2 schema 2 image skopeo converted', async () => {
    skopeo(['copy', '--format', 'v2s2', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${registry.host}/interop/v2s2:v1`]);
    const stores = await makeStores(join(root, 'pull-v2s2'));
    const pulled = await pullImage(stores, `${registry.host}/interop/v2s2:v1`);
    expect(pulled.record.mediaType).toBe(MediaTypes.dockerManifest);
    expect(pulled.manifest.layers[0].mediaType).toBe(MediaTypes.dockerLayerGzip);
  });

  it('pulls linux/amd64 out of a multi-platform index skopeo pushed', async () => {
    skopeo(['copy', '--all', '--dest-tls-verify=false', `oci:${layout}:multi`, `docker://${registry.host}/interop/multi:v1`]);
    const stores = await makeStores(join(root, 'pull-multi'));
    const pulled = await pullImage(stores, `${registry.host}/interop/multi:v1`);
    expect(pulled.manifestDigest).toBe(single.digest);
    expect(pulled.digest).not.toBe(single.digest);
  });

  it('builds upon the pulled image', async () => {
    const storeRoot = join(root, 'build-store');
    const name = `${registry.host}/interop/skopeo:v1`;
    const pull = spawnSync(BERTH, ['--root', storeRoot, 'pull', name], { encoding: 'utf8' });
    expect(pull.stderr).toBe('');
    const context = join(root, 'context');
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'Dockerfile'), `FROM ${name}\nRUN cat /etc/hello > /copy\n`);
    const build = spawnSync(BERTH, ['--root', storeRoot, 'build', '--progress', 'plain', '-t', 'built:v1', context], { encoding: 'utf8' });
    expect(build.status, build.stderr).toBe(0);
    const out = spawnSync(BERTH, ['--root', storeRoot, 'run', '--rm', 'built:v1', 'cat', '/copy'], { encoding: 'utf8' });
    expect(out.stdout).toBe('hello from skopeo\n');
    const built = await resolveImage((await makeStores(storeRoot)).images, 'built:v1');
    expect(built?.manifest.layers[0].digest).toBe((await resolveImage((await makeStores(storeRoot)).images, name))?.manifest.layers[0].digest);
    expect(built?.manifest.layers).toHaveLength(2);
  });
});
