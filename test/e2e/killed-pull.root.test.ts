/**
 * A pull killed in the middle of a layer leaves its half-written blob in ingest/, named after the
 * dead berth; the next build sweeps it. Prune drops the registry mount hints of blobs it deletes.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, startRegistry, type TestProxy, type TestRegistry } from '../registry/helpers.ts';
import { BERTH, makeSandbox, type Sandbox } from './harness.ts';

let registry: TestRegistry;
let proxy: TestProxy;
let a: Sandbox;
let b: Sandbox;
let stalled = 0;

beforeAll(async () => {
  [registry, a, b] = await Promise.all([startRegistry(), makeSandbox(), makeSandbox()]);
  // Blob downloads through the proxy send their first chunk and then stall for ever.
  proxy = await startProxy(registry.port, (req, res, forward) => {
    if (req.method !== 'GET' || !/\/blobs\/sha256:/.test(req.url ?? '')) return false;
    forward((up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.once('data', (chunk: Buffer) => {
        res.write(chunk);
        up.pause();
        stalled++;
      });
      return true;
    });
    return true;
  });
}, 120_000);
afterAll(async () => {
  await proxy?.close();
  await registry?.stop();
  a?.cleanup();
  b?.cleanup();
});

async function until(what: string, test: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function ingestFiles(store: string): string[] {
  try {
    return readdirSync(path.join(store, 'ingest'));
  } catch {
    return [];
  }
}

describe('leftovers of a killed pull', () => {
  it('are swept by the next build', async () => {
    const ref = `${registry.host}/big/app:1`;
    const built = await a.berth(['build', '-t', ref, a.context({ Dockerfile: 'FROM scratch\nCOPY big /big\n', big: 'x'.repeat(4 << 20) })]);
    expect(built.code, built.stderr).toBe(0);
    // Uncompressed: gzip would make the 4 MiB of x a few kB, all sent in the proxy's first chunk.
    expect((await a.berth(['push', '--compression', 'uncompressed', ref])).code).toBe(0);
    const child = spawn(BERTH, ['pull', `${proxy.host}/big/app:1`], {
      env: { ...process.env, BERTH_ROOT: b.root }, stdio: 'ignore', detached: true,
    });
    await until('a half-written blob', () => stalled > 0 && ingestFiles(b.root).some((f) => statSync(path.join(b.root, 'ingest', f)).size > 0));
    process.kill(-child.pid!, 'SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const left = ingestFiles(b.root);
    expect(left.length).toBeGreaterThan(0);
    const rebuilt = await b.berth(['build', b.context({ Dockerfile: 'FROM scratch\nCOPY f /f\n', f: 'x' })]);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    for (const name of left) expect(existsSync(path.join(b.root, 'ingest', name)), name).toBe(false);
  });

  it('mount hints of blobs that prune deletes are dropped with them', async () => {
    const ref = `${registry.host}/hints/app:1`;
    expect((await a.berth(['build', '-t', ref, a.context({ Dockerfile: 'FROM scratch\nCOPY f /f\n', f: 'hint' })])).code).toBe(0);
    expect((await a.berth(['push', ref])).code).toBe(0);
    const sources = path.join(a.root, 'registry', 'sources');
    const before = readdirSync(sources);
    expect(before.length).toBeGreaterThan(0);
    expect((await a.berth(['rmi', ref])).code).toBe(0);
    const pruned = await a.berth(['prune', '--all']);
    expect(pruned.code, pruned.stderr).toBe(0);
    const blobs = new Set(readdirSync(path.join(a.root, 'blobs', 'sha256')));
    const after = readdirSync(sources);
    expect(after.length).toBeLessThan(before.length);
    for (const name of after) expect(blobs.has(name.replace(/\.json$/, '')), name).toBe(true);
  });
});
