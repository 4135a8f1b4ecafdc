/**
 * No device node but the minimal /dev's can be opened from a container: not one made by a RUN
 * (in /tmp or in /dev; container root keeps CAP_MKNOD, as in docker), not one shipped in the
 * image's layers, not one in a bind mount. The proof target is the host's loop device 0, opened
 * read-only (reading a byte is harmless). Also the per-container device cgroup (cgroup v1 hosts)
 * and the kernel paths masked or made read-only as runc's defaults have them. Needs root.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runContainer, type ContainerSpec } from '../../src/exec/index.ts';
import { DEVICE_CGROUP_ROOT } from '../../src/exec/spec.ts';
import { makeBusyboxRootfs, makeTempDir, removeTree, run, shellSpec } from './busybox.ts';
import { installProbe, parseProbe } from './probe.ts';
import { execFileSync } from 'node:child_process';

let base: string;
let rootfs: string;
let n = 0;

async function overlay(lowerDirs = [rootfs]): Promise<ContainerSpec['rootfs']> {
  const dir = join(base, `run-${n++}`);
  await mkdir(join(dir, 'upper'), { recursive: true });
  await mkdir(join(dir, 'work'));
  return { kind: 'overlay', lowerDirs, upperDir: join(dir, 'upper'), workDir: join(dir, 'work') };
}

async function probe(args: string[], extra: Partial<ContainerSpec> = {}, script = '') {
  const result = await run(shellSpec(await overlay(), `${script}/bin/probe ${args.join(' ')}`, extra));
  expect(result.stderr).not.toContain('probe: unknown test');
  return { ...result, errnos: parseProbe(result.stdout) };
}

const hostLoop = existsSync('/dev/loop0');

beforeAll(async () => {
  base = await makeTempDir('devices');
  rootfs = await makeBusyboxRootfs(join(base, 'rootfs'));
  await installProbe(rootfs);
  // The host's own loop device 0 proves the attack: the test opens it read-only.
  if (!hostLoop) execFileSync('losetup', ['-f']);
}, 60_000);

afterAll(async () => {
  await removeTree(base);
});

describe('device nodes', () => {
  it('a block device made by a RUN in /tmp cannot be opened', async () => {
    const { errnos, stdout } = await probe(['open:/tmp/b'], {}, 'mkdir /tmp && mknod /tmp/b b 7 0 && ');
    expect(stdout).toContain('open ');
    expect(errnos.open).not.toBe(0);
  });

  it('a block device made in /dev (a tmpfs, container root has CAP_MKNOD) cannot be opened', async () => {
    const { errnos, stdout } = await probe(['open:/dev/b', 'openw:/dev/b'], {}, 'mknod /dev/b b 7 0 && ');
    expect(stdout).toContain('open ');
    expect(errnos.open).not.toBe(0);
    expect(errnos.openw).not.toBe(0);
  });

  it("a device node in the image's layers cannot be opened", async () => {
    const lower = join(base, 'with-device');
    await mkdir(join(lower, 'dev'), { recursive: true });
    execFileSync('mknod', [join(lower, 'blk'), 'b', '7', '0']);
    execFileSync('mknod', [join(lower, 'mem'), 'c', '1', '1']);
    const result = await run(shellSpec(await overlay([lower, rootfs]), '/bin/probe open:/blk open:/mem'));
    const errnos = parseProbe(result.stdout);
    expect(errnos.open).not.toBe(0);
    expect(result.stdout).not.toMatch(/open 0/);
  });

  it('a device node in a dir rootfs or a bind mount cannot be opened', async () => {
    const src = join(base, 'bind-src');
    await mkdir(src, { recursive: true });
    execFileSync('mknod', [join(src, 'blk'), 'b', '7', '0']);
    const bind = await run(shellSpec(await overlay(), '/bin/probe open:/m/blk', {
      mounts: [{ kind: 'bind', source: src, target: '/m', readonly: false }],
    }));
    expect(bind.stdout).toMatch(/^open [1-9]/);
    const dirRoot = join(base, 'dir-root');
    await makeBusyboxRootfs(dirRoot);
    await installProbe(dirRoot);
    execFileSync('mknod', [join(dirRoot, 'blk'), 'b', '7', '0']);
    const dir = await run(shellSpec({ kind: 'dir', path: dirRoot, readonly: true }, '/bin/probe open:/blk'));
    expect(dir.stdout).toMatch(/^open [1-9]/);
  });

  it('a device made in a tmpfs mount cannot be opened', async () => {
    const { errnos, stdout } = await probe(['open:/t/b'], { mounts: [{ kind: 'tmpfs', target: '/t' }] }, 'mknod /t/b b 7 0 && ');
    expect(stdout).toContain('open ');
    expect(errnos.open).not.toBe(0);
  });

  it('the minimal /dev still works: null, zero, full, random, urandom, ptmx and a pty', async () => {
    const result = await run(shellSpec(await overlay(),
      'echo x > /dev/null && head -c 3 /dev/zero | wc -c && head -c 2 /dev/urandom | wc -c && head -c 2 /dev/random | wc -c && ' +
      '(echo x > /dev/full) 2>&1; /bin/probe openw:/dev/ptmx openw:/dev/null; echo listing; ls /dev'));
    expect(result.stdout).toContain('3\n2\n2\n');
    expect(result.stdout).toMatch(/No space left on device/);
    expect(result.stdout).toContain('openw 0\nopenw 0\n');
    const listed = result.stdout.slice(result.stdout.indexOf('listing\n')).split('\n');
    for (const name of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx', 'pts', 'shm']) expect(listed).toContain(name);
  });
});

describe('the device cgroup', () => {
  const v1 = existsSync('/sys/fs/cgroup/devices/devices.list');

  it.runIf(v1)("puts the container in a cgroup allowing only docker's default devices, removed afterwards", async () => {
    let cgroupLine = '';
    let allowed = '';
    const done = runContainer(shellSpec(await overlay(), 'grep devices /proc/self/cgroup; sleep 1'), {
      onStdout: (chunk) => {
        cgroupLine += chunk.toString();
        const path = /devices:(\S+)/.exec(cgroupLine)?.[1];
        if (path && !allowed) allowed = readFileSync(`/sys/fs/cgroup/devices${path}/devices.list`, 'utf8');
      },
      onStderr: () => {},
    });
    expect((await done).exitCode).toBe(0);
    const path = /devices:(\S+)/.exec(cgroupLine)![1];
    expect(path).toContain(`/${DEVICE_CGROUP_ROOT}/`);
    expect(allowed.trim().split('\n').sort()).toEqual(
      ['b *:* m', 'c *:* m', 'c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm', 'c 5:0 rwm', 'c 5:1 rwm', 'c 5:2 rwm', 'c 136:* rwm'].sort(),
    );
    expect(existsSync(`/sys/fs/cgroup/devices${path}`)).toBe(false);
  });

  it.runIf(v1)('sweeps empty cgroups whose berth process is gone', async () => {
    const parent = `/sys/fs/cgroup/devices/${DEVICE_CGROUP_ROOT}`;
    // Above any pid_max: never a live helper. A live one's cgroup must stay.
    const stale = join(parent, '999999999-1');
    await mkdir(stale, { recursive: true });
    const result = await run(shellSpec(await overlay(), 'true'));
    expect(result.exitCode).toBe(0);
    expect(existsSync(stale)).toBe(false);
    expect(readdirSync(parent)).not.toContain('999999999-1');
  });
});

describe('kernel paths', () => {
  it("masks runc's default masked paths and makes its read-only paths read-only", async () => {
    const result = await run(shellSpec(await overlay(), [
      'for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/interrupts /proc/latency_stats /proc/timer_stats; do',
      '  [ -e $f ] && echo "$f $(head -c 100 $f | wc -c)"; done',
      'for d in /proc/acpi /proc/asound /proc/scsi /sys/firmware /sys/devices/virtual/powercap; do',
      '  [ -e $d ] && echo "$d $(ls -A $d | wc -l)"; done',
      'for p in /proc/bus /proc/fs /proc/irq /proc/sys /proc/sysrq-trigger; do',
      '  [ -e $p ] && grep -qE " $p ro[, ]" /proc/self/mountinfo && echo "$p ro"; done',
      'echo 1 > /proc/sysrq-trigger 2>/dev/null || echo sysrq-denied',
      'echo x > /proc/sys/kernel/hostname 2>/dev/null || echo sys-denied',
    ].join('\n')));
    const lines = result.stdout.trim().split('\n');
    for (const line of lines.filter((l) => /^\/(proc|sys)\/\S+ \d+$/.test(l))) expect(line).toMatch(/ 0$/);
    for (const path of ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/interrupts', '/sys/firmware']) {
      if (existsSync(path)) expect(lines.some((l) => l.startsWith(`${path} `))).toBe(true);
    }
    for (const path of ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']) {
      if (existsSync(path)) expect(lines).toContain(`${path} ro`);
    }
    expect(lines).toContain('sysrq-denied');
    expect(lines).toContain('sys-denied');
  });
});
