/**
 * Rootless berth, as an ordinary user made for the test: bin/berth enters a user namespace of its
 * own (native/src/userns.c) and builds, runs, saves, loads, pushes and pulls there, with layers
 * that hold exactly what a root build of the same Dockerfile holds (owners included). Without
 * subordinate ids only the user's own id maps, and what needs another owner fails saying why.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTar } from '../../src/layer/tar-io.ts';
import { BERTH, countOutcome, makeSandbox, type Sandbox } from './harness.ts';
import { ensureTunUsable, importBusybox, makeBase, makeUser, removeUser, type TestUser } from './rootless-harness.ts';
import { startRegistry, type TestRegistry } from '../registry/helpers.ts';

/** A tar of two members owned by different users, made here so no tool decides its owners. */
function ownersTar(): Buffer {
  const member = (name: string, uid: number, body: string): Buffer => {
    const header = Buffer.alloc(512);
    const field = (offset: number, length: number, text: string) => header.write(text, offset, length, 'ascii');
    field(0, 100, name);
    field(100, 8, '0000644\0');
    field(108, 8, `${uid.toString(8).padStart(7, '0')}\0`);
    field(116, 8, `${uid.toString(8).padStart(7, '0')}\0`);
    field(124, 12, `${body.length.toString(8).padStart(11, '0')}\0`);
    field(136, 12, '14000000000\0');
    field(148, 8, '        ');
    field(156, 1, '0');
    field(257, 8, 'ustar\u000000');
    let sum = 0;
    for (const byte of header) sum += byte;
    field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
    const data = Buffer.alloc(Math.ceil(body.length / 512) * 512);
    data.write(body);
    return Buffer.concat([header, data]);
  };
  return Buffer.concat([member('one', 0, 'one\n'), member('two', 1000, 'two\n'), Buffer.alloc(1024)]);
}

const DOCKERFILE = `FROM busybox:local AS build
RUN echo 'bob:x:1234:1234::/home/bob:/bin/sh' >> /etc/passwd && echo 'bob:x:1234:' >> /etc/group && mkdir -p /home/bob && chown bob:bob /home/bob
USER bob
RUN echo made-by-bob > /home/bob/out && id -u > /home/bob/uid
FROM busybox:local
COPY --from=build /etc/passwd /etc/passwd
COPY --from=build --chown=1234:1234 /home/bob /home/bob
COPY --chown=1000:1000 f.txt /f.txt
ADD owners.tar /owned/
RUN rm /bin/vi && rm -rf /etc/group && mkdir /opq && touch /opq/a
RUN rm -rf /opq && mkdir /opq && touch /opq/b && echo root-made > /root-made
CMD ["cat", "/home/bob/out"]
`;
const FILES = { 'Dockerfile': DOCKERFILE, 'f.txt': 'f\n', 'owners.tar': ownersTar() };

let base: ReturnType<typeof makeBase>;
let ranged: TestUser;
let single: TestUser;
let root: Sandbox;
let registry: TestRegistry;

beforeAll(async () => {
  ensureTunUsable();
  base = makeBase();
  ranged = makeUser('berth-rl-ranged', 300000, base.dir);
  single = makeUser('berth-rl-single', undefined, base.dir);
  await importBusybox(ranged, base.busybox);
  root = await makeSandbox();
  // The same base image as the user's (same tarball, same path in its history): the digests
  // compared below build on it.
  const imported = await root.berth(['import', '-c', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', path.join(ranged.home, 'busybox.tar'), 'busybox:local']);
  if (imported.code !== 0) throw new Error(imported.stderr);
  registry = await startRegistry();
}, 120_000);

afterAll(async () => {
  await registry?.stop();
  root?.cleanup();
  removeUser(ranged);
  removeUser(single);
  base?.cleanup();
});

/** What a layer (a tar in memory) holds, times aside (they differ between any two builds). */
async function layerListing(blob: Buffer): Promise<string[]> {
  // An imported base layer is kept as it came (gzip); built layers are plain tar.
  const tar = blob[0] === 0x1f && blob[1] === 0x8b ? gunzipSync(blob) : blob;
  const rows: string[] = [];
  for await (const { header, body } of readTar((async function* () { yield tar; })())) {
    const hash = createHash('sha256');
    for await (const chunk of body) hash.update(chunk);
    const xattrs = Object.entries(header.xattrs ?? {}).map(([k, v]) => `${k}=${v.toString('hex')}`).sort().join(',');
    rows.push([header.name, header.type, header.mode.toString(8), header.uid, header.gid, header.linkname ?? '', hash.digest('hex').slice(0, 16), xattrs].join(' '));
  }
  return rows;
}

/** The layers of `image` in the order of its manifest, from a docker-archive `berth save` writes. */
async function layersOf(box: Sandbox, image: string): Promise<string[][]> {
  const archive = path.join(box.dir, `${image.replaceAll(/[/:]/g, '_')}.tar`);
  const saved = await box.berth(['save', '-o', archive, image]);
  if (saved.code !== 0) throw new Error(saved.stderr);
  const files = new Map<string, Buffer>();
  for await (const { header, body } of readTar(createReadStream(archive))) {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.from(chunk));
    files.set(header.name, Buffer.concat(chunks));
  }
  const manifest = JSON.parse(files.get('manifest.json')!.toString())[0] as { Layers: string[] };
  return Promise.all(manifest.Layers.map((name) => layerListing(files.get(name)!)));
}

describe('rootless with subordinate ids', () => {
  it('builds what root builds: the same members, owners, modes and contents in every layer', async () => {
    const ctx = ranged.context(FILES);
    const built = await ranged.berth(['build', '--progress', 'plain', '-t', 'rl/app:1', ctx]);
    expect(built.code, built.stderr).toBe(0);
    expect(built.stderr).toMatch(/^rootless: user namespace of 65537 ids .*; RUN network: slirp4netns$/m);

    const archive = path.join(ranged.home, 'app.tar');
    expect((await ranged.berth(['save', '-o', archive, 'rl/app:1'])).code).toBe(0);
    expect((await root.berth(['load', '-i', archive])).code).toBe(0);
    const rootCtx = root.context({ 'Dockerfile': DOCKERFILE, 'f.txt': 'f\n' });
    writeFileSync(path.join(rootCtx, 'owners.tar'), ownersTar());
    const rootBuilt = await root.berth(['build', '-t', 'root/app:1', rootCtx]);
    expect(rootBuilt.code, rootBuilt.stderr).toBe(0);

    const rootless = await layersOf(root, 'rl/app:1');
    const asRoot = await layersOf(root, 'root/app:1');
    expect(rootless).toEqual(asRoot);
    // The owners really are the container's ids, not the host user's.
    expect(rootless.flat()).toEqual(expect.arrayContaining([
      expect.stringMatching(/^home\/bob\/out file 644 1234 1234 /),
      expect.stringMatching(/^f\.txt file 644 1000 1000 /),
      expect.stringMatching(/^owned\/two file 644 1000 1000 /),
      expect.stringMatching(/^root-made file 644 0 0 /),
      expect.stringMatching(/^bin\/\.wh\.vi /),
      expect.stringMatching(/^opq\/\.wh\.\.wh\.\.opq /),
    ]));
    const configs = await Promise.all(['rl/app:1', 'root/app:1'].map(async (name) => JSON.parse((await root.berth(['inspect', name])).stdout)[0].Config));
    expect(configs[0]).toEqual(configs[1]);
  }, 180_000);

  it('gives the same image digest as a root build with SOURCE_DATE_EPOCH and rewrite-timestamp=true', async () => {
    const flags = ['--build-arg', 'SOURCE_DATE_EPOCH=1700000000', '-o', 'type=image,rewrite-timestamp=true'];
    const digestOf = async (berth: TestUser['berth'] | Sandbox['berth'], ctx: string, meta: string): Promise<string> => {
      const built = await berth(['build', '--no-cache', '--metadata-file', meta, ...flags, '-t', 'repro/app', ctx]);
      expect(built.code, built.stderr).toBe(0);
      return JSON.parse(readFileSync(meta, 'utf8'))['containerimage.digest'];
    };
    const userCtx = ranged.context(FILES);
    const rootless = await digestOf(ranged.berth, userCtx, path.join(userCtx, 'meta.json'));
    const rootCtx = root.context({ 'Dockerfile': DOCKERFILE, 'f.txt': 'f\n' });
    writeFileSync(path.join(rootCtx, 'owners.tar'), ownersTar());
    const asRoot = await digestOf(root.berth, rootCtx, path.join(rootCtx, 'meta.json'));
    expect(rootless).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(rootless).toBe(asRoot);
  }, 180_000);

  it('rebuilds from the cache and runs its image, USER and all', async () => {
    const ctx = ranged.context(FILES);
    const first = await ranged.berth(['build', '-t', 'rl/app:2', ctx]);
    expect(first.code, first.stderr).toBe(0);
    const again = await ranged.berth(['build', '--progress', 'plain', '-t', 'rl/app:2', ctx]);
    expect(again.code).toBe(0);
    // Every step of both stages: two RUNs, three COPYs, the ADD and two RUNs.
    expect(countOutcome(again.stderr, 'CACHED')).toBe(8);
    expect((await ranged.berth(['run', 'rl/app:2'])).stdout).toBe('made-by-bob\n');
    const asBob = await ranged.berth(['run', '-u', 'bob', 'rl/app:2', 'sh', '-c', 'id -u; touch /tmp/x && stat -c %u /tmp/x; cat /home/bob/uid']);
    expect(asBob.stdout).toBe('1234\n1234\n1234\n');
  }, 180_000);

  it('pushes to and pulls from a registry, and loads what it saved', async () => {
    const ref = `${registry.host}/rootless/app:1`;
    expect((await ranged.berth(['tag', 'rl/app:1', ref])).code).toBe(0);
    const pushed = await ranged.berth(['push', ref]);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect((await ranged.berth(['rmi', ref, 'rl/app:1'])).code).toBe(0);
    const pulled = await ranged.berth(['pull', ref]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect((await ranged.berth(['run', ref, 'stat', '-c', '%u:%g', '/owned/two'])).stdout).toBe('1000:1000\n');
    const archive = path.join(ranged.home, 'pulled.tar');
    expect((await ranged.berth(['save', '-o', archive, ref])).code).toBe(0);
    expect((await ranged.berth(['rmi', ref])).code).toBe(0);
    expect((await ranged.berth(['load', '-i', archive])).code).toBe(0);
    expect((await ranged.berth(['run', ref, 'cat', '/f.txt'])).stdout).toBe('f\n');
  }, 180_000);

  it('keeps the sandbox: seccomp, no_new_privs, own network, loopback of the host out of reach', async () => {
    const info = await ranged.berth(['info']);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toMatch(/^user namespace:\s+rootless: uids 0-0 -> \d+-\d+, 1-65536 -> \d+-\d+$/m);
    expect(info.stdout).toMatch(/^seccomp:\s+active/m);
    expect(info.stdout).toMatch(/^network:\s+default: own namespace, outbound through slirp4netns/m);
    const net = await ranged.berth(['run', 'busybox:local', 'sh', '-c', 'cat /proc/net/dev | grep -c eth0; grep Seccomp: /proc/self/status']);
    expect(net.stdout).toBe('1\nSeccomp:\t2\n');
  }, 120_000);

  it('refuses cgroup limits with the reason, before building', async () => {
    const ctx = ranged.context({ Dockerfile: 'FROM scratch\nCOPY f /f\n', f: 'f\n' });
    for (const flags of [['-m', '64m'], ['--cgroup-parent', 'ci']]) {
      const refused = await ranged.berth(['build', ...flags, ctx]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain(`${flags[0] === '-m' ? '--memory' : '--cgroup-parent'}: a rootless berth cannot write cgroups`);
    }
  }, 60_000);
});

describe('berth unshare', () => {
  it('runs a command in the namespace, where files of subordinate ids belong to their owners', async () => {
    const store = path.join(ranged.home, '.local/share/berth');
    const found = await ranged.berth(['unshare', 'sh', '-c', `id -u; find ${store}/snapshots -uid 1234 | head -1`]);
    const [uid, owned] = found.stdout.trim().split('\n');
    expect(uid).toBe('0');
    expect(owned).toMatch(/home\/bob/);
    const removed = await ranged.berth(['unshare', 'rm', '-rf', owned]);
    expect(removed.code, removed.stderr).toBe(0);
    expect((await ranged.berth(['unshare', 'test', '-e', owned])).code).toBe(1);
  });
});

describe('rootless without subordinate ids', () => {
  it('builds what needs only root, and says what to add when another owner is needed', async () => {
    const scratch = single.context({ 'Dockerfile': 'FROM scratch\nCOPY f.txt /f.txt\n', 'f.txt': 'f\n' });
    const ok = await single.berth(['build', '--progress', 'plain', '-t', 'solo:1', scratch]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/^rootless: only your own id is mapped/m);
    const chown = single.context({ 'Dockerfile': 'FROM scratch\nCOPY --chown=1000:1000 f.txt /f.txt\n', 'f.txt': 'f\n' });
    const refused = await single.berth(['build', '--progress', 'plain', chown]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`berth's user namespace maps only your own id: give ${single.name} subordinate ids`);
    expect(refused.stderr).toContain('usermod --add-subuids');
    expect(refused.stderr).not.toMatch(/^error: EINVAL/m);
  }, 120_000);
});

describe('rootless errors', () => {
  it('says how to allow user namespaces when the system refuses them (user.max_user_namespaces = 0)', async () => {
    // The limit is set in a user namespace of the test's own: root here may not change the host's.
    const probe = path.join(base.dir, 'userns-limit');
    execFileSync('gcc', ['-O2', '-o', probe, path.join(import.meta.dirname, 'probes/userns-limit.c')]);
    const result = spawnSync(probe, [String(single.uid), String(single.gid), '/usr/bin/env', '-i', `HOME=${single.home}`, 'PATH=/usr/bin:/bin', BERTH, 'images'], { encoding: 'utf8' });
    expect(result.status).toBe(125);
    expect(result.stderr).toContain('this system refuses one: unshare(CLONE_NEWUSER): No space left on device');
    expect(result.stderr).toContain('sysctl -w user.max_user_namespaces=15000');
  });

  it('says to install uidmap when subordinate ids exist but newuidmap does not', async () => {
    const result = await ranged.berth(['images'], { env: { PATH: '/nonexistent' } });
    expect(result.code).toBe(125);
    expect(result.stderr).toContain('newuidmap and newgidmap are missing: install them (Debian: apt-get install uidmap)');
  });
});
