/**
 * berth as a CI step inside an unprivileged Docker container (no --privileged): root in the
 * container lacks CAP_SYS_ADMIN, so berth enters a user namespace of its own (mapping the
 * container's ids 0-65535 whole) and builds there. It needs what rootless BuildKit and Buildah
 * document: Docker's seccomp and AppArmor profiles off (they refuse user namespaces), /proc
 * unmasked (a user namespace mounts proc only where a full one is visible), /dev/net/tun for the
 * RUN network, and a store on a volume (overlay cannot have its upper dir on the container's own
 * overlay root). Without the seccomp relaxation berth must say what to add.
 *
 * The container image is made here: merged-/usr links and /etc files, with the host's /usr and
 * the checkout bound in read-only (berth brings its own Node in node_modules).
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from './harness.ts';

const exec = promisify(execFile);
const IMAGE = `berth-test/ci-base:${process.pid}`;
const CONTAINER_FLAGS = [
  '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined',
  '--security-opt', 'systempaths=unconfined', '--device', '/dev/net/tun',
];

let dir: string;

async function docker(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec('docker', args, { maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

function baseTarball(): string {
  const root = path.join(dir, 'root');
  for (const d of ['etc', 'tmp', 'root', 'store']) mkdirSync(path.join(root, d), { recursive: true });
  chmodSync(path.join(root, 'tmp'), 0o1777);
  for (const name of ['bin', 'lib', 'lib64', 'sbin']) symlinkSync(`usr/${name}`, path.join(root, name));
  writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\n');
  return path.join(dir, 'base.tar');
}

function run(script: string, flags: string[] = CONTAINER_FLAGS) {
  const store = path.join(dir, 'store');
  return docker(['run', '--rm', ...flags, '-e', 'HOME=/root', '-e', 'BERTH_ROOT=/store', '-v', `${store}:/store`,
    '-v', '/usr:/usr:ro', '-v', `${REPO}:${REPO}:ro`, '-v', `${dir}/work:/berth-work:ro`, IMAGE, 'sh', '-c', script]);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-in-container-'));
  const tarball = baseTarball();
  await exec('tar', ['--numeric-owner', '-C', path.join(dir, 'root'), '-cf', tarball, '.']);
  const imported = await docker(['import', tarball, IMAGE]);
  if (imported.code !== 0) throw new Error(`docker import failed (is a dockerd running?): ${imported.stderr}`);
  mkdirSync(path.join(dir, 'store'));
  mkdirSync(path.join(dir, 'work/ctx'), { recursive: true });
  await exec(path.join(REPO, 'scripts/busybox-rootfs.sh'), [path.join(dir, 'work/busybox.tar')]);
  writeFileSync(path.join(dir, 'work/ctx/Dockerfile'), 'FROM busybox:local\nRUN echo built-in-a-container > /x && grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status\n');
}, 120_000);

afterAll(async () => {
  await docker(['rmi', '-f', IMAGE]);
  rmSync(dir, { recursive: true, force: true });
});

describe('berth inside an unprivileged Docker container', () => {
  it('builds and runs an image as the container\'s root, in a user namespace of its own', async () => {
    const result = await run([
      'berth=$0/bin/berth',
      '$berth import -c "ENV PATH=/usr/bin:/bin:/usr/sbin:/sbin" /berth-work/busybox.tar busybox:local',
      '$berth build --progress plain -t ci/app /berth-work/ctx',
      '$berth run ci/app cat /x',
    ].join(' && ').replaceAll('$0', REPO));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^rootless: user namespace of 65536 ids/m);
    expect(result.stderr).toContain('Seccomp:\t2');
    expect(result.stderr).toContain('NoNewPrivs:\t1');
    expect(result.stdout).toMatch(/\nbuilt-in-a-container\n$/);
  }, 180_000);

  it('says which flags to add when Docker\'s seccomp profile refuses the user namespace', async () => {
    const result = await run(`${REPO}/bin/berth images`, ['--device', '/dev/net/tun']);
    expect(result.code).toBe(125);
    expect(result.stderr).toContain('unshare(CLONE_NEWUSER): Operation not permitted');
    expect(result.stderr).toContain('--security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined');
  }, 60_000);

  it('says why proc cannot be mounted when /proc is masked', async () => {
    const flags = ['--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined', '--device', '/dev/net/tun'];
    const result = await run(`${REPO}/bin/berth build --no-cache --progress plain /berth-work/ctx`, flags);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--security-opt systempaths=unconfined');
  }, 60_000);
});
