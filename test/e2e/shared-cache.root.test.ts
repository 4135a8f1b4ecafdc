import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type TestRegistry } from '../registry/helpers.ts';
import { countOutcome, makeSandbox, type Sandbox } from './harness.ts';

// Two machines' stores sharing build cache through a registry on loopback (issue 6).
let registry: TestRegistry;
let a: Sandbox;
let b: Sandbox;

beforeAll(async () => {
  [registry, a, b] = await Promise.all([startRegistry(), makeSandbox(), makeSandbox()]);
}, 120_000);
afterAll(async () => {
  await registry?.stop();
  a?.cleanup();
  b?.cleanup();
});

describe('build cache shared through a registry', () => {
  it('lets an empty store build with every step CACHED and the same image digest', async () => {
    const base = `${registry.host}/base/busybox:1`;
    expect((await a.berth(['tag', 'busybox:local', base])).code).toBe(0);
    expect((await a.berth(['push', base])).code).toBe(0);
    const dockerfile = `FROM ${base} AS build\nRUN echo compiled > /out && sleep 1\nFROM ${base}\nCOPY --from=build /out /out\nRUN cat /out > /copy\n`;
    const cacheRef = `type=registry,ref=${registry.host}/cache/app:buildcache,mode=max`;
    const first = await a.berth(['build', '--progress', 'plain', '-t', 'app', '--metadata-file', `${a.dir}/meta.json`, '--cache-to', cacheRef, a.context({ Dockerfile: dockerfile })]);
    expect(first.code, first.stderr).toBe(0);
    const second = await b.berth(['build', '--progress', 'plain', '-t', 'app', '--metadata-file', `${b.dir}/meta.json`, '--cache-from', cacheRef, b.context({ Dockerfile: dockerfile })]);
    expect(second.code, second.stderr).toBe(0);
    // No RUN executed on B: every step is CACHED and none is DONE but the export.
    expect(countOutcome(second.stderr, 'CACHED')).toBe(3);
    expect(countOutcome(second.stderr, 'DONE')).toBe(0);
    const metaA = JSON.parse(readFileSync(`${a.dir}/meta.json`, 'utf8'));
    const metaB = JSON.parse(readFileSync(`${b.dir}/meta.json`, 'utf8'));
    expect(metaB['containerimage.digest']).toBe(metaA['containerimage.digest']);
    expect((await b.berth(['run', '--rm', 'app', 'cat', '/copy'])).stdout).toBe('compiled\n');
  });

  it('pushes with --push and pulls back the same digest', async () => {
    const ref = `${registry.host}/apps/pushed:v1`;
    const built = await a.berth(['build', '--push', '-t', ref, '--metadata-file', `${a.dir}/pushed.json`, a.context({ Dockerfile: 'FROM busybox:local\nRUN echo pushed > /p\n' })]);
    expect(built.code, built.stderr).toBe(0);
    const pulled = await b.berth(['pull', ref]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect((await b.berth(['run', '--rm', ref, 'cat', '/p'])).stdout).toBe('pushed\n');
  });
});
