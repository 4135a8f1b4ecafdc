/**
 * podman and buildah (Debian bookworm's 4.3 and 1.28, containers/image underneath) read what
 * berth writes: `podman load` of a type=docker and a type=oci archive, then `podman run`; `buildah
 * pull` of gzip and zstd pushes from a loopback registry, then `buildah from` + `buildah run`.
 * Every podman and buildah call gets a store of its own under the test's temp dir (--root,
 * --runroot, --tmpdir, vfs), no network (--network none) and no event log, so nothing leaks into
 * the host's container storage. No Docker daemon is involved.
 *
 * The explicit ulimits: this VM gives root every capability but CAP_SYS_RESOURCE, and rootful
 * podman and buildah set RLIMIT_NOFILE/RLIMIT_NPROC to 1048576 by default, above the hard limits
 * here; runc then fails with "error setting rlimit type 7: operation not permitted". Limits under
 * the hard ones are allowed.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaTypes } from '../../src/image/descriptor.ts';
import { startRegistry, type TestRegistry } from '../registry/helpers.ts';
import { makeSandbox, type Sandbox } from './harness.ts';

const ULIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

let box: Sandbox;
let registry: TestRegistry;
let ctx: string;
let stores = 0;
beforeAll(async () => {
  [box, registry] = await Promise.all([makeSandbox(), startRegistry()]);
  ctx = box.context({ Dockerfile: 'FROM busybox:local\nCOPY msg /msg\nRUN echo "built by berth" > /hello\nCMD ["cat", "/hello", "/msg"]\n', msg: 'from the context\n' });
}, 120_000);
afterAll(async () => {
  await registry?.stop();
  box?.cleanup();
});

/** A fresh private container store for podman or buildah; returns the global flags that select it. */
function privateStore(): string[] {
  const dir = path.join(box.dir, `containers-${stores++}`);
  for (const sub of ['root', 'run', 'tmp']) mkdirSync(path.join(dir, sub), { recursive: true });
  return ['--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'run'), '--storage-driver', 'vfs'];
}

function podman(store: string[], args: string[]): string {
  const tmp = path.join(store[3], '..', 'tmp');
  return execFileSync('podman', [...store, '--tmpdir', tmp, '--events-backend', 'none', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function buildah(store: string[], args: string[]): string {
  return execFileSync('buildah', [...store, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('podman load + run of berth archives', () => {
  it.each([
    ['docker', 'type=docker', 'docker.io/library/podman-docker:1'],
    ['oci', 'type=oci,compression=zstd', 'docker.io/library/podman-oci:1'],
  ])('loads a %s archive by its name and runs it', async (kind, output, name) => {
    const file = path.join(box.dir, `podman-${kind}.tar`);
    const built = await box.berth(['build', '-t', name, '-o', `${output},dest=${file}`, ctx]);
    expect(built.code, built.stderr).toBe(0);
    const store = privateStore();
    expect(podman(store, ['load', '-i', file])).toContain(`Loaded image: ${name}`);
    const inspected = JSON.parse(podman(store, ['image', 'inspect', name]))[0];
    expect(inspected.Config.Cmd).toEqual(['cat', '/hello', '/msg']);
    expect(inspected.Os).toBe('linux');
    expect(inspected.Architecture).toBe('amd64');
    expect(podman(store, ['run', '--rm', '--network', 'none', ...ULIMITS, name])).toBe('built by berth\nfrom the context\n');
  });
});

describe('buildah pull + from + run of berth pushes', () => {
  it.each([
    ['gzip', MediaTypes.ociLayerGzip],
    ['zstd', MediaTypes.ociLayerZstd],
  ])('pulls a %s push from the loopback registry and runs a working container on it', async (compression, layerType) => {
    const name = `${registry.host}/podman/app:${compression}`;
    const built = await box.berth(['build', '-o', `type=registry,name=${name},compression=${compression}`, ctx]);
    expect(built.code, built.stderr).toBe(0);
    const store = privateStore();
    buildah(store, ['pull', '--tls-verify=false', name]);
    const image = JSON.parse(buildah(store, ['inspect', '--type', 'image', name]));
    const manifest = JSON.parse(image.Manifest);
    expect(new Set(manifest.layers.map((l: { mediaType: string }) => l.mediaType))).toEqual(new Set([layerType]));
    expect(image.OCIv1.config.Cmd).toEqual(['cat', '/hello', '/msg']);
    const container = buildah(store, ['from', '--pull=false', ...ULIMITS, name]).trim();
    expect(buildah(store, ['run', '--network', 'none', container, '--', 'cat', '/hello', '/msg'])).toBe('built by berth\nfrom the context\n');
    buildah(store, ['rm', container]);
  });
});
