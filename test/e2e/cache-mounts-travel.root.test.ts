import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type TestRegistry } from '../registry/helpers.ts';
import { makeSandbox, type Sandbox } from './harness.ts';

// Issue 18: RUN --mount=type=cache directories exported with --cache-to and restored by --cache-from.
let registry: TestRegistry;
let a: Sandbox;
let b: Sandbox;
let c: Sandbox;

beforeAll(async () => {
  [registry, a, b, c] = await Promise.all([startRegistry(), makeSandbox(), makeSandbox(), makeSandbox()]);
}, 120_000);
afterAll(async () => {
  await registry?.stop();
  for (const sb of [a, b, c]) sb?.cleanup();
});

/** Every blob the registry holds, decompressed when gzip. */
function registryBlobs(): Buffer[] {
  const out: Buffer[] = [];
  const visit = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const file = path.join(dir, name);
      if (statSync(file).isDirectory()) visit(file);
      else if (name === 'data') {
        const bytes = readFileSync(file);
        out.push(bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes);
      }
    }
  };
  visit(path.join(registry.dir, 'data/docker/registry/v2/blobs'));
  return out;
}

interface Layer { digest: string; size: number; annotations?: Record<string, string> }

async function cacheManifest(repoTag: string): Promise<{ layers: Layer[] }> {
  const [repo, tag] = repoTag.split(':');
  const response = await fetch(`http://${registry.host}/v2/${repo}/manifests/${tag}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
  expect(response.status).toBe(200);
  return await response.json() as { layers: Layer[] };
}

const mountLayers = (m: { layers: Layer[] }) => m.layers.filter((l) => l.annotations?.['io.berth.cache-mount.id'] !== undefined);

describe('cache mounts that travel with --cache-to/--cache-from', () => {
  it('an empty store finds the cache mount files of the store that exported them, and a warm store keeps its own', async () => {
    const ref = `${registry.host}/cm/app:cache`;
    const write = 'FROM busybox:local\nRUN --mount=type=cache,target=/cache sh -c \'echo one > /cache/a && mkdir -p /cache/d && echo two > /cache/d/b && ln -s a /cache/link\'\n';
    const first = await a.berth(['build', '--progress', 'plain', '-t', 'app', '--cache-to', `type=registry,ref=${ref},mode=max,cache-mounts=true`, a.context({ Dockerfile: write })]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/exported \d+ cache records \(\d+ layers, gzip, 1 cache mounts\)/);
    const layers = mountLayers(await cacheManifest('cm/app:cache'));
    expect(layers.map((l) => l.annotations!['io.berth.cache-mount.id'])).toEqual(['/cache']);
    expect(layers[0].annotations!['io.berth.cache-mount.name']).toMatch(/^[0-9a-f]{32}$/);

    // Another RUN text: its layer cache misses, so only the restored mount can give it the files.
    const read = 'FROM busybox:local\nRUN --mount=type=cache,target=/cache sh -c \'cat /cache/a /cache/d/b /cache/link || echo missing\' > /found\n';
    const second = await b.berth(['build', '--progress', 'plain', '-t', 'app', '--cache-from', `type=registry,ref=${ref}`, b.context({ Dockerfile: read })]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('restored cache mount /cache');
    expect((await b.berth(['run', '--rm', 'app', 'cat', '/found'])).stdout).toBe('one\ntwo\none\n');
    // The blob went into the directory; the store keeps no copy.
    expect(readdirSync(path.join(b.root, 'blobs/sha256'))).not.toContain(layers[0].digest.slice('sha256:'.length));

    // Without cache mounts (cache-mounts=false) the same import leaves /cache empty.
    const none = await c.berth(['build', '--progress', 'plain', '-t', 'app', '--cache-from', `type=registry,ref=${ref},cache-mounts=false`, c.context({ Dockerfile: read })]);
    expect(none.code, none.stderr).toBe(0);
    expect((await c.berth(['run', '--rm', 'app', 'cat', '/found'])).stdout).toBe('missing\n');

    // B's cache is warm now: a later import must not clobber what B's own builds wrote.
    const local = 'FROM busybox:local\nRUN --mount=type=cache,target=/cache sh -c \'echo local > /cache/a\'\n';
    expect((await b.berth(['build', '-q', '-t', 'w', b.context({ Dockerfile: local })])).code).toBe(0);
    const again = await b.berth(['build', '--progress', 'plain', '--no-cache', '-t', 'app', '--cache-from', `type=registry,ref=${ref}`, b.context({ Dockerfile: read })]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('cache mount /cache not restored: warm here already');
    expect((await b.berth(['run', '--rm', 'app', 'cat', '/found'])).stdout).toBe('local\ntwo\nlocal\n');
  });

  it('travels through a type=local cache directory too', async () => {
    const dest = path.join(a.dir, 'local-cache');
    const write = 'FROM busybox:local\nRUN --mount=type=cache,target=/deps,id=deps,uid=1000,mode=0700 sh -c \'echo fetched > /deps/pkg\'\n';
    const first = await a.berth(['build', '-q', '-t', 'loc', '--cache-to', `type=local,dest=${dest},cache-mounts=true`, a.context({ Dockerfile: write })]);
    expect(first.code, first.stderr).toBe(0);
    const read = 'FROM busybox:local\nRUN --mount=type=cache,target=/deps,id=deps,uid=1000,mode=0700 sh -c \'cat /deps/pkg; stat -c "%u %a" /deps\' > /found\n';
    const second = await c.berth(['build', '--progress', 'plain', '-t', 'loc', '--cache-from', `type=local,src=${dest}`, c.context({ Dockerfile: read })]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('restored cache mount deps');
    expect((await c.berth(['run', '--rm', 'loc', 'cat', '/found'])).stdout).toBe('fetched\n1000 700\n');
  });

  it('never exports a secret mount: its content is in no blob of the cache, the cache mount beside it is', async () => {
    const secret = 'TOPSECRET-e3b0c44298fc1c149afb';
    const file = path.join(a.dir, 'token');
    writeFileSync(file, secret);
    // Once at /run/secrets, once with its mount point inside the cache mount.
    const dockerfile = 'FROM busybox:local\nRUN --mount=type=secret,id=tok --mount=type=cache,target=/work,id=work --mount=type=secret,id=tok,target=/work/token sh -c \'wc -c < /run/secrets/tok > /work/len && cat /work/token > /dev/null && echo built-with-secret > /work/marker\'\n';
    const ref = `${registry.host}/cm/secret:cache`;
    const built = await a.berth(['build', '--progress', 'plain', '-t', 'sec', '--secret', `id=tok,src=${file}`, '--cache-to', `type=registry,ref=${ref},mode=max,cache-mounts=true`, a.context({ Dockerfile: dockerfile })]);
    expect(built.code, built.stderr).toBe(0);
    expect(mountLayers(await cacheManifest('cm/secret:cache')).map((l) => l.annotations!['io.berth.cache-mount.id'])).toEqual(['work']);
    const blobs = registryBlobs();
    expect(blobs.some((blob) => blob.includes('built-with-secret'))).toBe(true);
    expect(blobs.filter((blob) => blob.includes(secret))).toEqual([]);
  });

  it('skips a mount over cache-mounts-max-size with a warning and exports the others', async () => {
    const dockerfile = 'FROM busybox:local\n'
      + 'RUN --mount=type=cache,target=/big,id=big --mount=type=cache,target=/small,id=small sh -c \'head -c 3000000 /dev/zero > /big/f && echo s > /small/f\'\n';
    const ref = `${registry.host}/cm/size:cache`;
    const built = await a.berth(['build', '--progress', 'plain', '-t', 'size', '--cache-to', `type=registry,ref=${ref},cache-mounts=true,cache-mounts-max-size=1m`, a.context({ Dockerfile: dockerfile })]);
    expect(built.code, built.stderr).toBe(0);
    expect(built.stderr).toMatch(/cache mount big not exported: over cache-mounts-max-size=1\.05MB/);
    expect(mountLayers(await cacheManifest('cm/size:cache')).map((l) => l.annotations!['io.berth.cache-mount.id'])).toEqual(['small']);

    // cache-mount-ids chooses: only "big" asked for, with room for it.
    const chosen = await a.berth(['build', '--progress', 'plain', '-t', 'size', '--cache-to', `type=registry,ref=${ref}-ids,cache-mounts=true,cache-mount-ids=big`, a.context({ Dockerfile: dockerfile })]);
    expect(chosen.code, chosen.stderr).toBe(0);
    expect(mountLayers(await cacheManifest('cm/size:cache-ids')).map((l) => l.annotations!['io.berth.cache-mount.id'])).toEqual(['big']);
  });

  it('refuses an unknown cache option before building, naming the valid ones', async () => {
    const r = await a.berth(['build', '-t', 'x', '--cache-to', `type=registry,ref=${registry.host}/cm/x:c,cache-mount=true`, a.context({ Dockerfile: 'FROM busybox:local\nRUN touch /never\n' })]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown key "cache-mount" for --cache-to .*valid: .*cache-mounts, cache-mounts-max-size, cache-mount-ids/);
    expect(r.stderr).not.toContain('RUN touch /never');
  });
});
