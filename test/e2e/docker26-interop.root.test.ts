/**
 * What berth writes, read by Docker 26 (the oracle ../shared/conformance/oracle.sh starts:
 * containerd image store, which reads zstd layers that Debian's Docker 20.10 cannot), and by
 * every transport skopeo copies to. outputs.root.test.ts covers Docker 20.10 beside this.
 * scripts/test.sh starts the oracle before the tests; a missing oracle fails here, never skips.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaTypes } from '../../src/image/descriptor.ts';
import { startRegistry, type TestRegistry } from '../registry/helpers.ts';
import { BERTH, REPO, makeSandbox, type Sandbox } from './harness.ts';

const ORACLE_SH = path.resolve(REPO, '../shared/conformance/oracle.sh');

/** DOCKER_HOST and the oracle's own client, as oracle.sh prints them. */
function oracle(): { env: NodeJS.ProcessEnv; client: string } {
  const out = execFileSync('bash', [ORACLE_SH, 'env'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const host = /\bDOCKER_HOST=(\S+)/.exec(out)?.[1];
  const client = /\bDIFFER_DOCKER=(\S+)/.exec(out)?.[1];
  if (!host || !client) throw new Error(`oracle.sh env printed no DOCKER_HOST/DIFFER_DOCKER: ${out}`);
  return { env: { ...process.env, DOCKER_HOST: host }, client };
}

let box: Sandbox;
let registry: TestRegistry;
let docker26: (args: string[]) => string;
let dockerfile: string;
const tags: string[] = [];

beforeAll(async () => {
  const { env, client } = oracle();
  docker26 = (args) => execFileSync(client, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  box = await makeSandbox();
  registry = await startRegistry();
  dockerfile = box.context({ Dockerfile: 'FROM busybox:local\nRUN echo made > /made\nCMD ["cat", "/made"]\n' });
}, 600_000);
afterAll(async () => {
  for (const tag of tags) docker26Quiet(['rmi', '-f', tag]);
  await registry?.stop();
  box?.cleanup();
});

const docker20 = (args: string[]) => execFileSync('docker', args, { env: { ...process.env, DOCKER_HOST: undefined }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
function docker20Quiet(args: string[]): void {
  try {
    docker20(args);
  } catch {
    // the image a failed copy never made
  }
}

function docker26Quiet(args: string[]): void {
  try {
    docker26(args);
  } catch {
    // cleanup of a tag a failed test never made
  }
}

function build(args: string[]): void {
  const r = spawnSync(BERTH, ['build', ...args, dockerfile], { env: { ...process.env, BERTH_ROOT: box.root, NO_COLOR: '1' }, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
}

/** The layer media types of the first manifest of an OCI layout or archive directory. */
function layoutLayers(dir: string): string[] {
  const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8'));
  const blob = (d: string) => path.join(dir, 'blobs', 'sha256', d.replace('sha256:', ''));
  return JSON.parse(readFileSync(blob(index.manifests[0].digest), 'utf8')).layers.map((l: { mediaType: string }) => l.mediaType);
}

describe('Docker 26 reads what berth writes', () => {
  for (const compression of ['gzip', 'zstd', 'uncompressed']) {
    it(`docker load runs a ${compression} type=docker archive and a ${compression} type=oci archive`, () => {
      for (const type of ['docker', 'oci']) {
        const tag = `berth-e2e/load26-${type}:${compression}`;
        tags.push(tag);
        const file = path.join(box.dir, `load26-${type}-${compression}.tar`);
        build(['-t', tag, '-o', `type=${type},dest=${file},compression=${compression}`]);
        expect(docker26(['load', '-i', file])).toContain(tag);
        expect(docker26(['run', '--rm', '--network', 'none', tag])).toBe('made\n');
      }
    });

    it(`docker pull runs what berth pushes ${compression}`, () => {
      const name = `${registry.host}/docker26/pull:${compression}`;
      tags.push(name);
      build(['-o', `type=registry,name=${name},compression=${compression}`]);
      docker26(['pull', name]);
      expect(docker26(['run', '--rm', '--network', 'none', name])).toBe('made\n');
    });
  }
});

describe('skopeo copies what berth pushes to each of its transports', () => {
  const skopeo = (args: string[]) => execFileSync('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  for (const compression of ['gzip', 'zstd']) {
    it(`a ${compression} image to dir:, oci:, oci-archive: (gzip: docker-archive:, docker-daemon: too)`, () => {
      const name = `${registry.host}/skopeo/every:${compression}`;
      build(['-o', `type=registry,name=${name},compression=${compression}`]);
      const source = `docker://${name}`;
      const out = path.join(box.dir, `skopeo-${compression}`);
      mkdirSync(out, { recursive: true });
      const wanted = compression === 'gzip' ? MediaTypes.ociLayerGzip : MediaTypes.ociLayerZstd;

      skopeo(['copy', '--src-tls-verify=false', source, `dir:${path.join(out, 'dir')}`]);
      const dirManifest = JSON.parse(readFileSync(path.join(out, 'dir', 'manifest.json'), 'utf8'));
      expect(new Set(dirManifest.layers.map((l: { mediaType: string }) => l.mediaType))).toEqual(new Set([wanted]));
      expect(readdirSync(path.join(out, 'dir')).length).toBeGreaterThan(3);

      skopeo(['copy', '--src-tls-verify=false', source, `oci:${path.join(out, 'layout')}:x`]);
      expect(new Set(layoutLayers(path.join(out, 'layout')))).toEqual(new Set([wanted]));

      const ociArchive = path.join(out, 'image.oci.tar');
      skopeo(['copy', '--src-tls-verify=false', source, `oci-archive:${ociArchive}:x`]);
      expect(JSON.parse(skopeo(['inspect', `oci-archive:${ociArchive}:x`])).Layers.length).toBe(dirManifest.layers.length);

      // docker-archive: and docker-daemon: hold Docker's format, which skopeo 1.9 (Debian 12)
      // writes only from gzip or uncompressed layers ("zstd compression is not supported for
      // docker images"), and its daemon client speaks API 1.22, older than Docker 26 accepts
      // (1.24): so the daemon here is Docker 20.10 (scripts/test.sh starts it), gzip only.
      if (compression !== 'gzip') return;
      const tag = `skopeo/every:${compression}`;
      tags.push(tag);
      const dockerArchive = path.join(out, 'image.docker.tar');
      skopeo(['copy', '--src-tls-verify=false', source, `docker-archive:${dockerArchive}:${tag}`]);
      expect(docker26(['load', '-i', dockerArchive])).toContain(tag);
      expect(docker26(['run', '--rm', '--network', 'none', tag])).toBe('made\n');
      skopeo(['copy', '--src-tls-verify=false', source, `docker-daemon:${tag}`]);
      try {
        expect(docker20(['run', '--rm', '--network', 'none', tag])).toBe('made\n');
      } finally {
        docker20Quiet(['rmi', '-f', tag]);
      }
    });
  }
});
