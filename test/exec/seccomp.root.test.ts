/**
 * The seccomp filter: docker's default profile's answers, seen from inside a container through
 * the static probe (test/exec/probe.c). Host root's kernel keys out of reach, no user namespaces,
 * no perf, no bpf, no ptrace of the init; ordinary work (fork, sockets, a compiler) unaffected.
 * Needs root.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerSpec } from '../../src/exec/index.ts';
import { makeBusyboxRootfs, makeTempDir, removeTree, run, shellSpec } from './busybox.ts';
import { ENOENT, ENOSYS, EPERM, installProbe, parseProbe } from './probe.ts';

let base: string;
let rootfs: string;
let n = 0;

async function overlay(): Promise<ContainerSpec['rootfs']> {
  const dir = join(base, `run-${n++}`);
  await mkdir(join(dir, 'upper'), { recursive: true });
  await mkdir(join(dir, 'work'));
  return { kind: 'overlay', lowerDirs: [rootfs], upperDir: join(dir, 'upper'), workDir: join(dir, 'work') };
}

async function probe(args: string[], extra: Partial<ContainerSpec> = {}) {
  const result = await run({ ...shellSpec(await overlay(), ''), args: ['/bin/probe', ...args], ...extra });
  expect(result.stderr).not.toContain('probe: unknown test');
  return { ...result, errnos: parseProbe(result.stdout) };
}

function keyctl(...args: string[]): string {
  return execFileSync('keyctl', args, { encoding: 'utf8' }).trim();
}

/**
 * The host's own toolchain as a container: /usr bound read-only into an empty root with
 * merged-/usr links (Debian 12), scratch tmpfs on /tmp and /out.
 */
async function hostToolsSpec(script: string): Promise<ContainerSpec> {
  const root = join(base, `host-tools-${n++}`);
  for (const dir of ['usr', 'etc', 'tmp', 'out']) await mkdir(join(root, dir), { recursive: true });
  for (const link of ['bin', 'lib', 'lib64', 'sbin']) await symlink(`usr/${link}`, join(root, link));
  return {
    ...shellSpec({ kind: 'dir', path: root, readonly: true }, script),
    mounts: [
      { kind: 'bind', source: '/usr', target: '/usr', readonly: true },
      { kind: 'tmpfs', target: '/tmp' },
      { kind: 'tmpfs', target: '/out' },
    ],
  };
}

beforeAll(async () => {
  base = await makeTempDir('seccomp');
  rootfs = await makeBusyboxRootfs(join(base, 'rootfs'));
  await installProbe(rootfs);
}, 60_000);

afterAll(async () => {
  await removeTree(base);
});

describe('seccomp', () => {
  it('is in filter mode in a RUN, and off when privileged', async () => {
    const on = await run(shellSpec(await overlay(), 'grep -E "^Seccomp:" /proc/self/status'));
    expect(on.stdout).toBe('Seccomp:\t2\n');
    const off = await run(shellSpec(await overlay(), 'grep -E "^Seccomp:" /proc/self/status', { privileged: true }));
    expect(off.stdout).toBe('Seccomp:\t0\n');
  });

  it("keeps host root's kernel keys out of reach: no reading, no planting", async () => {
    const name = `berth-test-secret-${process.pid}`;
    const id = keyctl('add', 'user', name, 'host-secret', '@u');
    const planted = `berth-test-planted-${process.pid}`;
    try {
      const { errnos, stderr } = await probe([`keyread:${id}`, `addkey:${planted}`, 'keyctl']);
      expect(stderr).not.toContain('host-secret');
      expect(errnos).toEqual({ keyread: EPERM, addkey: EPERM, keyctl: EPERM });
      expect(() => keyctl('search', '@u', 'user', planted)).toThrow();
    } finally {
      keyctl('unlink', id, '@u');
      try {
        keyctl('unlink', keyctl('search', '@u', 'user', planted), '@u');
      } catch {
        // not planted
      }
    }
  });

  it('denies user namespaces (and mounting in one), perf_event_open, bpf, ptrace of the init', async () => {
    const { errnos } = await probe(['userns_mount', 'unshare_newuser', 'clone_newuser', 'perf_event_open', 'bpf', 'ptrace_init']);
    expect(errnos).toEqual({
      userns_mount: EPERM, unshare_newuser: EPERM, clone_newuser: EPERM, perf_event_open: EPERM, bpf: EPERM, ptrace_init: EPERM,
    });
  });

  // Calls docker's default profile denies with EPERM under docker's default capabilities.
  const denied = [
    'add_key', 'keyctl', 'request_key', 'bpf', 'perf_event_open', 'unshare_newuser', 'clone_newuser', 'unshare_newns', 'mount',
    'umount2', 'pivot_root', 'kexec_load', 'init_module', 'finit_module', 'delete_module', 'open_by_handle_at', 'userfaultfd',
    'personality_odd', 'swapon', 'swapoff', 'reboot', 'settimeofday', 'clock_settime', 'acct', 'iopl', 'ioperm', 'quotactl',
    'lookup_dcookie', 'fsopen', 'fsmount', 'move_mount', 'open_tree', 'setns', 'syslog', 'vhangup', 'socket_vsock',
  ];

  it('denies every call of the table with EPERM', async () => {
    const { errnos } = await probe(denied);
    expect(errnos).toEqual(Object.fromEntries(denied.map((name) => [name, EPERM])));
  });

  it('allows what the profile allows; clone3 and calls newer than the profile answer ENOSYS', async () => {
    const allowed = ['getpid', 'fork', 'personality_linux', 'personality_query', 'socket_inet', 'chroot', 'name_to_handle_at'];
    const { errnos } = await probe([...allowed, 'clone3', 'fchmodat2', 'nr_1000']);
    // name_to_handle_at of "": ENOENT from the kernel, i.e. it got through.
    expect(errnos).toEqual({
      ...Object.fromEntries(allowed.map((name) => [name, 0])), name_to_handle_at: ENOENT, clone3: ENOSYS, fchmodat2: ENOSYS, nr_1000: ENOSYS,
    });
  });

  it('privileged (RUN --security=insecure) has no filter', async () => {
    const { errnos } = await probe(['keyctl', 'personality_odd', 'clone3'], { privileged: true });
    expect(errnos.keyctl).toBe(0);
    expect(errnos.personality_odd).toBe(0);
    expect(errnos.clone3).not.toBe(ENOSYS);
  });
});

describe('ordinary workloads under the filter', () => {
  it('busybox shell work: pipes, subshells, background jobs, sockets', async () => {
    const result = await run(shellSpec(await overlay(),
      'a=$(echo hi | wc -c); (sleep 0.1 &); wait; mkdir -p /x/y && cp /bin/busybox /x/y/b && ls /x/y | wc -l; echo $a; ps | wc -l >/dev/null; echo ok'));
    expect(result).toMatchObject({ exitCode: 0, stdout: '1\n3\nok\n' });
  });

  it("compiles and runs a C program with the host's gcc", async () => {
    const script = [
      'cd /out',
      'cat > hello.c <<"EOF"',
      '#include <stdio.h>',
      'int main(void) { printf("built %d\\n", 6 * 7); return 0; }',
      'EOF',
      'gcc -O2 -o hello hello.c && ./hello && gcc -static -o hello-static hello.c && ./hello-static',
    ].join('\n');
    const result = await run(await hostToolsSpec(script));
    expect(result.stderr).toBe('');
    expect(result).toMatchObject({ exitCode: 0, stdout: 'built 42\nbuilt 42\n' });
  }, 60_000);

  it('dpkg builds a package and installs it into a fresh root', async () => {
    const script = [
      'set -e; cd /out; mkdir -p pkg/DEBIAN pkg/usr/share/berth root/var/lib/dpkg/updates root/var/lib/dpkg/info',
      'printf "Package: berth-probe\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: t <t@t>\\nDescription: d\\n" > pkg/DEBIAN/control',
      'echo payload > pkg/usr/share/berth/file',
      'touch root/var/lib/dpkg/status',
      'dpkg-deb --root-owner-group --build pkg p.deb >/dev/null',
      'dpkg --root=/out/root --force-script-chrootless --force-not-root --no-triggers --log=/dev/null -i p.deb >/dev/null',
      'cat root/usr/share/berth/file',
      'dpkg --root=/out/root -l berth-probe | tail -1 | cut -c1-15',
    ].join('\n');
    const result = await run(await hostToolsSpec(script));
    expect(result.stderr).toBe('');
    expect(result).toMatchObject({ exitCode: 0, stdout: 'payload\nii  berth-probe\n' });
  }, 60_000);
});
