/**
 * OCI annotations on what a build writes, as BuildKit's image exporters and buildx's --annotation
 * place them: on the pushed manifest (read back from a loopback registry), on an oci or docker
 * archive's manifest and its index.json entry, and on the stored image; index annotations fail as
 * BuildKit fails them for a single-platform export.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type TestRegistry } from '../registry/helpers.ts';
import { makeSandbox, type Sandbox } from './harness.ts';

const TITLE = 'org.opencontainers.image.title';
const AUTHORS = 'org.opencontainers.image.authors';
const REF_NAME = 'org.opencontainers.image.ref.name';

let box: Sandbox;
let registry: TestRegistry;
let ctx: string;
beforeAll(async () => {
  [box, registry] = await Promise.all([makeSandbox(), startRegistry()]);
  ctx = box.context({ Dockerfile: 'FROM busybox:local\nRUN echo annotated > /a\n' });
}, 120_000);
afterAll(async () => {
  await registry?.stop();
  box?.cleanup();
});

interface Layout { index: { manifests: Array<{ digest: string; annotations?: Record<string, string> }> }; manifest: { mediaType: string; annotations?: Record<string, string> } }

/** An archive's index.json and its first manifest. */
function readArchive(file: string): Layout {
  const dir = `${file}.d`;
  mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-xf', file, '-C', dir]);
  const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(path.join(dir, 'blobs', 'sha256', index.manifests[0].digest.replace('sha256:', '')), 'utf8'));
  return { index, manifest };
}

describe('annotations on a push', () => {
  it('-o annotation.* and --annotation land on the manifest the registry serves', async () => {
    const name = `${registry.host}/annotations/app:1`;
    const r = await box.berth(['build', '--progress', 'plain', '--annotation', `${AUTHORS}=berth team`, '--annotation', 'manifest-descriptor:d=1',
      '-o', `type=registry,name=${name},annotation.${TITLE}=Annotated,annotation[linux/amd64].arch=amd64,"annotation.url=https://x.example/?a=b,c"`, ctx]);
    expect(r.code, r.stderr).toBe(0);
    const manifest = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${name}`], { encoding: 'utf8' }));
    expect(manifest.annotations).toEqual({ [AUTHORS]: 'berth team', [TITLE]: 'Annotated', arch: 'amd64', url: 'https://x.example/?a=b,c' });
    // A descriptor annotation has no index to go into on a single-manifest push: said, not lost silently.
    expect(r.stderr).toMatch(/manifest-descriptor annotations \(d\) are dropped for type=registry: it writes a single manifest/);
    // skopeo's own reading of the pushed image agrees.
    expect(JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${name}`], { encoding: 'utf8' })).Digest).toMatch(/^sha256:/);
  });
});

describe('annotations in archives', () => {
  it('type=oci: annotation.* on the manifest, annotation-manifest-descriptor.* beside the names in index.json', async () => {
    const out = path.join(box.dir, 'annotated-oci.tar');
    const r = await box.berth(['build', '-t', 'annotated:oci', '-o', `type=oci,dest=${out},annotation.${TITLE}=OCI,annotation-manifest-descriptor.${TITLE}=Entry,annotation-manifest.m=2`, ctx]);
    expect(r.code, r.stderr).toBe(0);
    const { index, manifest } = readArchive(out);
    expect(manifest.annotations).toEqual({ [TITLE]: 'OCI', m: '2' });
    expect(index.manifests[0].annotations).toMatchObject({ [TITLE]: 'Entry', [REF_NAME]: 'oci' });
    const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci-archive:${out}:oci`], { encoding: 'utf8' }));
    expect(raw.annotations).toEqual({ [TITLE]: 'OCI', m: '2' });
  });

  it('type=docker carries them too, and the archive still names the image', async () => {
    const out = path.join(box.dir, 'annotated-docker.tar');
    const r = await box.berth(['build', '-t', 'annotated:docker', '--annotation', 'manifest,manifest-descriptor:both=yes', '-o', `type=docker,dest=${out}`, ctx]);
    expect(r.code, r.stderr).toBe(0);
    const { index, manifest } = readArchive(out);
    expect(manifest.annotations).toEqual({ both: 'yes' });
    expect(index.manifests[0].annotations).toMatchObject({ both: 'yes', 'io.containerd.image.name': 'docker.io/library/annotated:docker' });
    const loaded = await box.berth(['load', '-i', out]);
    expect(loaded.code, loaded.stderr).toBe(0);
  });

  it('--annotation with no -o annotates the stored image (berth save shows it)', async () => {
    const r = await box.berth(['build', '-t', 'annotated:store', '--annotation', 'manifest[linux/amd64]:stored=1', ctx]);
    expect(r.code, r.stderr).toBe(0);
    const out = path.join(box.dir, 'stored.tar');
    expect((await box.berth(['save', '--format', 'oci', '-o', out, 'annotated:store'])).code).toBe(0);
    expect(readArchive(out).manifest.annotations).toEqual({ stored: '1' });
  });
});

describe('annotation errors', () => {
  it('index annotations fail as BuildKit fails them for one platform; another platform is named', async () => {
    for (const args of [['-o', `type=oci,dest=${box.dir}/x.tar,annotation-index.k=v`], ['--annotation', 'index:k=v'], ['--annotation', 'index-descriptor:k=v']]) {
      const r = await box.berth(['build', ...args, ctx]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/index annotations not supported for single platform export .*berth builds one platform \(linux\/amd64\) and writes no image index/);
    }
    const arm = await box.berth(['build', '--annotation', 'manifest[linux/arm64]:k=v', ctx]);
    expect(arm.code).toBe(1);
    expect(arm.stderr).toContain('annotation for platform "linux/arm64" in --annotation "manifest[linux/arm64]:k=v": berth builds linux/amd64 images only');
    const unknown = await box.berth(['build', '-o', 'type=image,annotation-layer.k=v', ctx]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown annotation type "layer" in --output key "annotation-layer.k" (manifest, manifest-descriptor, index, index-descriptor)');
  });
});
