import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadArchive } from '../../src/image/archive-load.ts';
import { saveDockerArchive, saveOciArchive } from '../../src/image/archive-save.ts';
import { openImageStore, resolveImage, type ImageStore } from '../../src/image/store.ts';
import { makeImage } from './helpers.ts';

// Other tools must accept what berth writes: skopeo and umoci (OCI), and Docker when its daemon
// runs (docker load of our archive; our load of docker save's). Root: umoci unpack, docker.

let root: string;
let store: ImageStore;
const suffix = `${process.pid}-${Date.now()}`;
const dockerUp = spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-interop-'));
  store = openImageStore(join(root, 'store'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function run(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('OCI archives', () => {
  it('pass skopeo inspect and umoci unpack', async () => {
    const image = await makeImage(store, { 'etc/greeting': 'hello from berth\n', 'bin/tool': '#!/bin/sh\n' }, ['berth-test/oci:v1']);
    const archive = join(root, 'oci.tar');
    await saveOciArchive(store, ['berth-test/oci:v1'], archive);

    const inspected = JSON.parse(run('skopeo', ['inspect', `oci-archive:${archive}`]));
    expect(inspected.Digest).toBe(image.descriptor.digest);
    expect(inspected.Layers).toEqual([image.manifest.layers[0].digest]);
    expect(inspected.Architecture).toBe('amd64');
    const raw = JSON.parse(run('skopeo', ['inspect', '--config', `oci-archive:${archive}:v1`]));
    expect(raw.config.Cmd).toEqual(['sh']);

    const layout = join(root, 'layout');
    await mkdir(layout);
    run('tar', ['-C', layout, '-xf', archive]);
    const bundle = join(root, 'bundle');
    run('umoci', ['unpack', '--image', `${layout}:v1`, bundle]);
    expect(await readFile(join(bundle, 'rootfs', 'etc', 'greeting'), 'utf8')).toBe('hello from berth\n');
    const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8'));
    expect(spec.process.args).toEqual(['sh']);
  });
});

describe.skipIf(!dockerUp)('Docker (daemon running)', () => {
  it('docker load accepts our docker-archive with the same image ID', async () => {
    const name = `berth-test/load:${suffix}`;
    const image = await makeImage(store, { 'etc/greeting': 'hi docker\n' }, [name]);
    const archive = join(root, 'docker.tar');
    await saveDockerArchive(store, [name], archive);
    try {
      const output = run('docker', ['load', '-i', archive]);
      expect(output).toContain(`Loaded image: ${name}`);
      expect(run('docker', ['image', 'inspect', '--format', '{{.Id}}', name]).trim()).toBe(image.config.digest);
    } finally {
      spawnSync('docker', ['rmi', '-f', name], { stdio: 'ignore' });
    }
  });

  it('loads what docker save writes', async () => {
    const name = `berth-test/saved:${suffix}`;
    const rootfs = join(root, 'rootfs');
    await mkdir(join(rootfs, 'etc'), { recursive: true });
    await writeFile(join(rootfs, 'etc', 'motd'), 'imported\n');
    run('tar', ['-C', rootfs, '-cf', join(root, 'rootfs.tar'), '.']);
    try {
      const id = run('docker', ['import', '--change', 'CMD ["/bin/true"]', join(root, 'rootfs.tar'), name]).trim();
      run('docker', ['save', '-o', join(root, 'saved.tar'), name]);
      const fresh = openImageStore(join(root, 'fresh'));
      const loaded = await loadArchive(fresh, join(root, 'saved.tar'));
      expect(loaded).toHaveLength(1);
      expect(loaded[0].names).toEqual([`docker.io/${name}`]);
      const resolved = await resolveImage(fresh, name);
      // Docker's image ID is its config digest; a loaded image keeps it.
      expect(resolved?.record.config).toBe(id);
      expect(resolved?.config.config?.Cmd).toEqual(['/bin/true']);
      expect(resolved?.manifest.layers).toHaveLength(1);
    } finally {
      spawnSync('docker', ['rmi', '-f', name], { stdio: 'ignore' });
    }
  });
});
