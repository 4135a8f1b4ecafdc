import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox } from './harness.ts';

const exec = promisify(execFile);
let sb: Sandbox;
let dockerUp = false;

beforeAll(async () => {
  sb = await makeSandbox();
  const ctx = sb.context({ Dockerfile: 'FROM busybox:local\nRUN echo archived > /a.txt\nCMD ["cat", "/a.txt"]\n' });
  const built = await sb.berth(['build', '-t', 'e2e/archive:v1', ctx]);
  if (built.code !== 0) throw new Error(built.stderr);
  dockerUp = await exec('docker', ['info']).then(() => true, () => false);
}, 120_000);
afterAll(() => sb?.cleanup());

describe('images leave berth in formats other tools accept', () => {
  it('writes an OCI archive that skopeo inspects and umoci unpacks', async () => {
    const out = path.join(sb.dir, 'img.oci.tar');
    expect((await sb.berth(['save', '--format', 'oci', '-o', out, 'e2e/archive:v1'])).code).toBe(0);
    const inspected = JSON.parse((await exec('skopeo', ['inspect', `oci-archive:${out}`])).stdout);
    expect(inspected.Layers.length).toBe(2);
    const layout = path.join(sb.dir, 'layout');
    mkdirSync(layout);
    await exec('tar', ['-xf', out, '-C', layout]);
    const bundle = path.join(sb.dir, 'bundle');
    await exec('umoci', ['unpack', '--image', `${layout}:v1`, bundle]);
    expect(readFileSync(path.join(bundle, 'rootfs/a.txt'), 'utf8')).toBe('archived\n');
  });

  it('round-trips a docker-archive through berth load', async () => {
    const out = path.join(sb.dir, 'img.docker.tar');
    expect((await sb.berth(['save', '-o', out, 'e2e/archive:v1'])).code).toBe(0);
    expect((await sb.berth(['rmi', 'e2e/archive:v1'])).code).toBe(0);
    const loaded = await sb.berth(['load', '-i', out]);
    expect(loaded.stdout).toContain('e2e/archive:v1');
    expect((await sb.berth(['run', '--rm', 'e2e/archive:v1'])).stdout).toBe('archived\n');
  });

  it('writes a docker-archive that docker load runs (when a dockerd answers)', async (ctx) => {
    if (!dockerUp) ctx.skip();
    const out = path.join(sb.dir, 'img.for-docker.tar');
    expect((await sb.berth(['save', '-o', out, 'e2e/archive:v1'])).code).toBe(0);
    await exec('docker', ['load', '-i', out]);
    const ran = await exec('docker', ['run', '--rm', '--network', 'none', 'e2e/archive:v1']);
    expect(ran.stdout).toBe('archived\n');
    await exec('docker', ['rmi', 'e2e/archive:v1']);
  });
});
