import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasBlob, readBlob, writeBlob } from '../../src/content/store.ts';
import { encodeDocument, MediaTypes } from '../../src/image/descriptor.ts';
import { buildIndex } from '../../src/image/image-index.ts';
import { listTags, resolveImage } from '../../src/image/store.ts';
import { openSession } from '../../src/registry/auth.ts';
import { putManifest } from '../../src/registry/client.ts';
import { closeRegistryConnections, pullImage, pushImage, RegistryError, type RegistryStores, type TransferEvent } from '../../src/registry/index.ts';
import { makeImage, makeStores, noise, startProxy, startRegistry, tempDir, type TestRegistry } from './helpers.ts';

// Pull, push, digests, chunked uploads, mounts, interrupted pushes and retries against a real
// docker-registry on 127.0.0.1 (plain HTTP: loopback registries may use it).

let registry: TestRegistry;
let root: string;
let storeCount = 0;

beforeAll(async () => {
  registry = await startRegistry();
  root = await tempDir('plain');
});
afterAll(async () => {
  closeRegistryConnections();
  await registry?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

async function freshStores(): Promise<RegistryStores> {
  return makeStores(`${root}/store-${storeCount++}`);
}

function recorder(): { events: TransferEvent[]; onProgress: (e: TransferEvent) => void; kinds: (kind: TransferEvent['kind']) => number } {
  const events: TransferEvent[] = [];
  return { events, onProgress: (e) => events.push(e), kinds: (kind) => events.filter((e) => e.kind === kind).length };
}

describe('push and pull', () => {
  it('round-trips an image; pulling by digest gives the pushed digest', async () => {
    const a = await freshStores();
    const name = `${registry.host}/berth/hello:v1`;
    const image = await makeImage(a, [{ 'etc/greeting': 'hello\n' }, { 'bin/tool': noise(3000) }], [name]);
    const pushed = await pushImage(a, name);
    expect(pushed.digest).toBe(image.descriptor.digest);
    expect(pushed.name).toBe(name);

    const b = await freshStores();
    const pulled = await pullImage(b, name);
    expect(pulled.manifestDigest).toBe(image.descriptor.digest);
    expect(pulled.digest).toBe(image.descriptor.digest);
    const resolved = await resolveImage(b.images, name);
    expect(resolved?.record.digest).toBe(image.descriptor.digest);
    expect(resolved?.record.config).toBe(image.config.digest);
    for (const layer of image.manifest.layers) expect(await hasBlob(b.content, layer.digest)).toBe(true);

    const c = await freshStores();
    const byDigest = await pullImage(c, `${registry.host}/berth/hello@${pushed.digest}`);
    expect(byDigest.manifestDigest).toBe(pushed.digest);
    expect((await readBlob(c.content, pushed.digest)).equals(await readBlob(a.content, pushed.digest))).toBe(true);
    // A digest pull names content, not a tag.
    expect(await listTags(c.images)).toEqual([]);
  });

  it('skips blobs it already has, on pull and on push', async () => {
    const a = await freshStores();
    const name = `${registry.host}/berth/again:v1`;
    await makeImage(a, [{ 'a.txt': 'a\n' }], [name]);
    await pushImage(a, name);
    const second = recorder();
    await pushImage(a, name, { onProgress: second.onProgress });
    expect(second.kinds('exists')).toBe(2);
    expect(second.kinds('uploaded')).toBe(0);
    const pulls = recorder();
    await pullImage(a, name, { onProgress: pulls.onProgress });
    expect(pulls.kinds('exists')).toBe(2);
    expect(pulls.kinds('downloaded')).toBe(0);
  });

  it('uploads in chunks (POST, PATCH…, PUT) when a blob exceeds the chunk size', async () => {
    const a = await freshStores();
    const name = `${registry.host}/berth/chunked:v1`;
    const image = await makeImage(a, [{ 'big.bin': noise(20_000) }], [name]);
    expect(image.manifest.layers[0].size).toBeGreaterThan(4 * 1024);
    const events = recorder();
    const proxy = await startProxy(registry.port);
    let pushed;
    try {
      pushed = await pushImage(a, `${proxy.host}/berth/chunked:v1`, { source: name, chunkSize: 4 * 1024, onProgress: events.onProgress });
    } finally {
      closeRegistryConnections();
      await proxy.close();
    }
    expect(events.kinds('uploaded')).toBe(2);
    const patches = proxy.requests.filter((r) => r.startsWith('PATCH '));
    expect(patches.length).toBe(Math.ceil(image.manifest.layers[0].size / 4096));
    expect(proxy.requests.filter((r) => r.startsWith('PUT ') && r.includes('/blobs/uploads/')).length).toBe(2);
    const b = await freshStores();
    const pulled = await pullImage(b, `${registry.host}/berth/chunked@${pushed.digest}`);
    expect(pulled.manifestDigest).toBe(image.descriptor.digest);
    expect(await hasBlob(b.content, image.manifest.layers[0].digest)).toBe(true);
  });

  it('mounts blobs from another repository of the same registry instead of uploading them', async () => {
    const a = await freshStores();
    const first = `${registry.host}/berth/source:v1`;
    const image = await makeImage(a, [{ 'm.txt': noise(2000) }], [first]);
    await pushImage(a, first);
    const events = recorder();
    const pushed = await pushImage(a, `${registry.host}/berth/target:v1`, { source: first, onProgress: events.onProgress });
    expect(pushed.digest).toBe(image.descriptor.digest);
    expect(events.kinds('mounted')).toBe(2);
    expect(events.events.find((e) => e.kind === 'mounted')?.from).toBe('berth/source');
    expect(events.kinds('uploaded')).toBe(0);
    const b = await freshStores();
    expect((await pullImage(b, `${registry.host}/berth/target:v1`)).manifestDigest).toBe(image.descriptor.digest);
  });

  it('pulls Docker v2 schema 2 images', async () => {
    const a = await freshStores();
    const name = `${registry.host}/berth/dockerish:v1`;
    const image = await makeImage(a, [{ 'd.txt': 'docker\n' }], []);
    const config = await readBlob(a.content, image.config.digest);
    const { writeManifestFor } = await import('../../src/image/commit.ts');
    const docker = await writeManifestFor(a.images, { ...image.config, mediaType: MediaTypes.dockerConfig },
      image.manifest.layers.map((l) => ({ ...l, mediaType: MediaTypes.dockerLayerGzip })), { family: 'docker', names: [name] });
    expect(config.length).toBeGreaterThan(0);
    await pushImage(a, name);
    const b = await freshStores();
    const pulled = await pullImage(b, name);
    expect(pulled.manifestDigest).toBe(docker.descriptor.digest);
    expect(pulled.record.mediaType).toBe(MediaTypes.dockerManifest);
  });

  it('selects linux/amd64 from a multi-platform index, or the platform asked for', async () => {
    const a = await freshStores();
    const repo = `${registry.host}/berth/multi`;
    const amd = await makeImage(a, [{ 'arch': 'amd64\n' }], [`${repo}:amd64`]);
    const arm = await makeImage(a, [{ 'arch': 'arm64\n' }], [`${repo}:arm64`]);
    await pushImage(a, `${repo}:amd64`);
    await pushImage(a, `${repo}:arm64`);
    const index = encodeDocument(MediaTypes.ociIndex, buildIndex([
      { ...arm.descriptor, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { ...amd.descriptor, platform: { os: 'linux', architecture: 'amd64' } },
    ]));
    await writeBlob(a.content, index.bytes);
    const session = await openSession(registry.host);
    await putManifest(session, 'berth/multi', 'all', index.bytes, MediaTypes.ociIndex);

    const b = await freshStores();
    const pulled = await pullImage(b, `${repo}:all`);
    expect(pulled.digest).toBe(index.descriptor.digest);
    expect(pulled.manifestDigest).toBe(amd.descriptor.digest);
    expect((await resolveImage(b.images, `${repo}:all`))?.record.digest).toBe(amd.descriptor.digest);
    const c = await freshStores();
    const armPulled = await pullImage(c, `${repo}@${index.descriptor.digest}`, { platform: { os: 'linux', architecture: 'arm64' } });
    expect(armPulled.manifestDigest).toBe(arm.descriptor.digest);
    await expect(pullImage(c, `${repo}:all`, { platform: { os: 'linux', architecture: 's390x' } }))
      .rejects.toThrow(/no manifest for linux\/s390x .*available: linux\/arm64\/v8, linux\/amd64/);
  });
});

describe('errors', () => {
  it('names registry, repository and the missing tag on 404', async () => {
    const b = await freshStores();
    const error = await pullImage(b, `${registry.host}/berth/nothing:nope`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryError);
    expect((error as RegistryError).status).toBe(404);
    expect((error as Error).message).toContain(`manifest nope does not exist in ${registry.host}/berth/nothing`);
  });

  it('refuses to push an image the local store does not have', async () => {
    const b = await freshStores();
    await expect(pushImage(b, `${registry.host}/berth/ghost:v1`)).rejects.toThrow(/does not exist locally/);
  });

  it('reports an unreachable registry without hanging', async () => {
    const b = await freshStores();
    await expect(pullImage(b, '127.0.0.1:1/berth/x:v1', { attempts: 2, backoffMs: 10 })).rejects.toThrow(/cannot reach registry 127\.0\.0\.1:1/);
  });
});

describe('interrupted pushes and flaky connections', () => {
  it('a push aborted after some blobs leaves no tag; the retry uploads only the rest', async () => {
    const a = await freshStores();
    const name = `${registry.host}/berth/interrupted:v1`;
    const image = await makeImage(a, [{ '1': noise(1500) }, { '2': noise(1500) }, { '3': noise(1500) }], [name]);
    let done = 0;
    const failing = pushImage(a, name, {
      concurrency: 1,
      afterBlob: () => {
        if (++done === 2) throw new Error('connection lost (simulated)');
      },
    });
    await expect(failing).rejects.toThrow('connection lost (simulated)');
    const b = await freshStores();
    await expect(pullImage(b, name)).rejects.toMatchObject({ status: 404 });

    const retry = recorder();
    const pushed = await pushImage(a, name, { onProgress: retry.onProgress });
    expect(pushed.digest).toBe(image.descriptor.digest);
    expect(retry.kinds('exists')).toBe(2);
    expect(retry.kinds('uploaded')).toBe(2);
    expect((await pullImage(b, name)).manifestDigest).toBe(image.descriptor.digest);
  });

  it('a push whose connection is killed mid-upload fails without a tag, and succeeds when retried', async () => {
    const a = await freshStores();
    const image = await makeImage(a, [{ 'k1': noise(30_000) }, { 'k2': noise(30_000) }], ['local/killed:v1']);
    let kills = 0;
    let killing = true;
    // Cuts every blob upload (the final PUT with ?digest=) after part of its body has arrived.
    const proxy = await startProxy(registry.port, (req) => {
      if (!killing || req.method !== 'PUT' || !req.url?.includes('/blobs/uploads/')) return false;
      kills++;
      let received = 0;
      req.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > 10_000) req.socket.destroy();
      });
      req.on('end', () => req.socket.destroy()); // Small blobs: cut after the whole body.
      return true;
    });
    const name = `${proxy.host}/berth/killed:v1`;
    try {
      const error = await pushImage(a, name, { source: 'local/killed:v1', attempts: 2, backoffMs: 10 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RegistryError);
      expect((error as Error).message).toMatch(/upload of sha256:[a-f0-9]{64} in 127\.0\.0\.1:\d+\/berth\/killed/);
      expect(kills).toBeGreaterThanOrEqual(2);
      await expect(pullImage(await freshStores(), name)).rejects.toMatchObject({ status: 404 });

      killing = false;
      const pushed = await pushImage(a, name, { source: 'local/killed:v1' });
      expect(pushed.digest).toBe(image.descriptor.digest);
      expect((await pullImage(await freshStores(), name)).manifestDigest).toBe(image.descriptor.digest);
    } finally {
      closeRegistryConnections();
      await proxy.close();
    }
  });

  it('retries 5xx answers and connections dropped mid-body', async () => {
    const a = await freshStores();
    const name = `${registry.host}/berth/flaky:v1`;
    const image = await makeImage(a, [{ 'f.bin': noise(50_000) }], [name]);
    await pushImage(a, name);

    // A proxy that answers the first manifest GET with 503 and cuts the first layer download
    // halfway through; everything else passes through untouched.
    const faults = { unavailable: 0, dropped: 0 };
    const proxy = await startProxy(registry.port, (req, res, forward) => {
      if (req.method === 'GET' && req.url?.includes('/manifests/') && faults.unavailable === 0) {
        faults.unavailable++;
        res.writeHead(503, { 'content-type': 'text/plain' }).end('try later');
        return true;
      }
      if (req.method !== 'GET' || !req.url?.includes(image.manifest.layers[0].digest) || faults.dropped > 0) return false;
      faults.dropped++;
      forward((up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        let sent = 0;
        up.on('data', (chunk: Buffer) => {
          if (sent > 20_000) return;
          sent += chunk.length;
          res.write(chunk);
          if (sent > 20_000) res.socket?.destroy();
        });
        return true;
      });
      return true;
    });
    const port = proxy.port;
    try {
      const b = await freshStores();
      const pulled = await pullImage(b, `127.0.0.1:${port}/berth/flaky:v1`, { backoffMs: 20 });
      expect(pulled.manifestDigest).toBe(image.descriptor.digest);
      expect(faults).toEqual({ unavailable: 1, dropped: 1 });
      expect(await hasBlob(b.content, image.manifest.layers[0].digest)).toBe(true);
    } finally {
      closeRegistryConnections();
      await proxy.close();
    }
  });
});
