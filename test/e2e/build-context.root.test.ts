/**
 * `--build-context NAME=...` as buildx resolves it: a directory COPY --from=NAME reads, and an
 * image that takes the place of a stage or image of that name in FROM, COPY --from and mounts.
 */
import { cpSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox } from './harness.ts';

let sb: Sandbox;
beforeAll(async () => { sb = await makeSandbox(); }, 120_000);
afterAll(() => sb?.cleanup());

const cat = async (image: string, file: string) => (await sb.berth(['run', '--rm', image, 'cat', file])).stdout;

describe('--build-context', () => {
  it('gives COPY --from a directory, keyed by its files and not by where it lies', async () => {
    const assets = sb.context({ 'a.txt': 'asset\n', 'sub/b.txt': 'b\n' });
    const ctx = sb.context({ Dockerfile: 'FROM busybox:local\nCOPY --from=assets . /assets\n' });
    const built = await sb.berth(['build', '-q', '-t', 'named/dir', '--build-context', `assets=${assets}`, ctx]);
    expect(built.code, built.stderr).toBe(0);
    expect(await cat('named/dir', '/assets/a.txt')).toBe('asset\n');
    expect(await cat('named/dir', '/assets/sub/b.txt')).toBe('b\n');
    const moved = path.join(sb.dir, 'moved-assets');
    cpSync(assets, moved, { recursive: true });
    const again = await sb.berth(['build', '--progress', 'plain', '--build-context', `assets=${moved}`, ctx]);
    expect(again.stderr).toMatch(/COPY --from=assets \. \/assets\n#\d+ CACHED/);
    writeFileSync(path.join(moved, 'a.txt'), 'changed\n');
    expect((await sb.berth(['build', '-q', '-t', 'named/dir2', '--build-context', `assets=${moved}`, ctx])).code).toBe(0);
    expect(await cat('named/dir2', '/assets/a.txt')).toBe('changed\n');
  });

  it('puts an image in place of a base image, and of a stage of the same name', async () => {
    const maker = sb.context({ Dockerfile: 'FROM busybox:local\nRUN echo image > /who\n' });
    expect((await sb.berth(['build', '-q', '-t', 'named/who', maker])).code).toBe(0);
    const ctx = sb.context({
      Dockerfile: 'FROM busybox:local AS builder\nRUN echo stage > /who\nFROM base\nCOPY --from=builder /who /who\nRUN cat /who > /seen\n',
    });
    const built = await sb.berth(['build', '-q', '-t', 'named/img', '--build-context', 'base=docker-image://busybox:local', '--build-context', 'builder=docker-image://named/who', ctx]);
    expect(built.code, built.stderr).toBe(0);
    expect(await cat('named/img', '/seen')).toBe('image\n');
    const plain = await sb.berth(['build', '-q', '-t', 'named/plain', '--build-context', 'base=docker-image://busybox:local', ctx]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(await cat('named/plain', '/seen')).toBe('stage\n');
  });

  it('refuses what it cannot do, with the reason', async () => {
    const dir = sb.context({ 'x': 'x' });
    const from = await sb.berth(['build', '-q', '--build-context', `d=${dir}`, sb.context({ Dockerfile: 'FROM d\n' })]);
    expect(from.stderr).toContain('FROM d: a directory build context cannot be a base image');
    const mount = await sb.berth(['build', '-q', '--build-context', `d=${dir}`, sb.context({ Dockerfile: 'FROM busybox:local\nRUN --mount=from=d,target=/d true\n' })]);
    expect(mount.stderr).toContain('RUN --mount from the directory build context d is not supported yet');
    const bad = await sb.berth(['build', '-q', '--build-context', 'nothing', sb.context({ Dockerfile: 'FROM busybox:local\n' })]);
    expect(bad.stderr).toContain('invalid --build-context "nothing"');
    const layout = await sb.berth(['build', '-q', '--build-context', 'l=oci-layout:///x', sb.context({ Dockerfile: 'FROM busybox:local\n' })]);
    expect(layout.stderr).toContain('oci-layout:// contexts are not supported yet');
  });
});
