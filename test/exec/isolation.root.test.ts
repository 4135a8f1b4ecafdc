/**
 * A RUN container is isolated like a docker build's: own pids, own filesystem, no network but
 * loopback, docker's capabilities, the requested user, env and working directory. Real containers:
 * needs root.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerSetupError, runContainer, type ContainerSpec } from '../../src/exec/index.ts';
import { findProcesses, makeBusyboxRootfs, makeTempDir, removeTree, run, shellSpec } from './busybox.ts';

let base: string;
let rootfs: string;
let n = 0;

/** A fresh overlay over the busybox rootfs for each run. */
async function overlay(): Promise<ContainerSpec['rootfs']> {
  const dir = join(base, `run-${n++}`);
  await mkdir(join(dir, 'upper'), { recursive: true });
  await mkdir(join(dir, 'work'));
  return { kind: 'overlay', lowerDirs: [rootfs], upperDir: join(dir, 'upper'), workDir: join(dir, 'work') };
}

async function sh(script: string, extra: Partial<ContainerSpec> = {}) {
  return run(shellSpec(await overlay(), script, extra));
}

beforeAll(async () => {
  base = await makeTempDir('isolation');
  rootfs = await makeBusyboxRootfs(join(base, 'rootfs'));
});

afterAll(async () => {
  await removeTree(base);
});

describe('process results', () => {
  it('returns exit code, stdout and stderr separately', async () => {
    const result = await sh('echo out; echo err >&2; exit 7');
    expect(result).toMatchObject({ exitCode: 7, stdout: 'out\n', stderr: 'err\n' });
    expect(result.signal).toBeUndefined();
  });

  it('reports a command killed by a signal as 128+n with the signal name', async () => {
    const result = await sh('kill -9 $$');
    expect(result).toMatchObject({ exitCode: 137, signal: 'SIGKILL' });
  });

  it('reports a missing executable like docker, exit 127', async () => {
    const result = await run({ ...shellSpec(await overlay(), ''), args: ['no-such-command', 'x'] });
    expect(result.exitCode).toBe(127);
    expect(result.stderr).toContain('exec: "no-such-command": executable file not found in $PATH');
    const absolute = await run({ ...shellSpec(await overlay(), ''), args: ['/bin/nope'] });
    expect(absolute.exitCode).toBe(127);
    expect(absolute.stderr).toContain('/bin/nope');
  });

  it('reports a non-executable file with exit 126', async () => {
    const result = await sh('echo hi > /script; /script');
    expect(result.exitCode).toBe(126);
    const direct = await run({ ...shellSpec(await overlay(), ''), args: ['/bin'] });
    expect(direct.exitCode).toBe(126);
  });

  it('streams output while the command is still running', async () => {
    let firstChunkAt = 0;
    const started = Date.now();
    const result = await runContainer(shellSpec(await overlay(), 'echo first; sleep 1; echo second'), {
      onStdout: () => {
        if (!firstChunkAt) firstChunkAt = Date.now();
      },
      onStderr: () => {},
    });
    const finishedAt = Date.now();
    expect(result.exitCode).toBe(0);
    expect(firstChunkAt - started).toBeLessThan(finishedAt - started - 500);
  });

  it('PID 1 forwards SIGTERM to the command', async () => {
    const result = await sh('trap "echo got-term; exit 3" TERM; kill -TERM 1; sleep 5 & wait');
    expect(result).toMatchObject({ exitCode: 3, stdout: 'got-term\n' });
  });

  it('PID 1 reaps orphans and kills leftovers when the command exits', async () => {
    const marker = `sleep ${200000 + (process.pid % 50000) * 10 + 1}`;
    const started = Date.now();
    const result = await sh(`(true &); sleep 0.2; ps -o stat,args | grep -c "^Z" ; ${marker} &`);
    expect(result.stdout).toBe('0\n');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await findProcesses(marker)).toEqual([]);
  });

  it('gives the command /dev/null as stdin by default', async () => {
    const result = await sh('cat; echo done');
    expect(result).toMatchObject({ exitCode: 0, stdout: 'done\n' });
  });

  it('fails setup problems with a clear ContainerSetupError, not an exit code', async () => {
    await expect(sh('true', { cwd: '/does/not/exist' })).rejects.toThrow(ContainerSetupError);
    await expect(sh('true', { cwd: '/does/not/exist' })).rejects.toThrow(/working directory \/does\/not\/exist/);
    const bad = shellSpec({ kind: 'overlay', lowerDirs: [join(base, 'missing')], upperDir: base, workDir: base }, 'true');
    await expect(run(bad)).rejects.toThrow(/missing/);
  });
});

describe('isolation', () => {
  it('sees only its own processes (PID 1 is the init)', async () => {
    const result = await sh('ps -o pid,args');
    const lines = result.stdout.trim().split('\n').slice(1);
    const pids = lines.map((line) => Number(line.trim().split(/\s+/)[0]));
    expect(pids).toContain(1);
    expect(Math.max(...pids)).toBeLessThan(10);
    expect(result.stdout).not.toContain('vitest');
    expect(result.stdout).not.toMatch(/\bnode\b/);
  });

  it('cannot see host files', async () => {
    const marker = join(base, 'host-secret');
    await writeFile(marker, 'secret');
    const result = await sh(`cat ${marker}; ls /usr /work /home 2>&1; ls /`);
    expect(result.stdout).not.toContain('secret');
    expect(result.stdout.split('\n').filter((l) => l && !l.includes('No such file'))).toEqual(
      expect.arrayContaining(['bin', 'dev', 'etc', 'proc', 'sys']),
    );
    expect(result.stdout).toContain('/usr: No such file or directory');
  });

  it('has only a loopback interface, up, with network none', async () => {
    const result = await sh('cat /proc/net/dev; ip link', { network: 'none' });
    const devices = result.stdout
      .split('\n')
      .filter((line) => /^\s*\w+:\s+\d/.test(line))
      .map((line) => line.trim().split(':')[0]);
    expect(devices).toEqual(['lo']);
    expect(result.stdout).toMatch(/1: lo: <LOOPBACK,UP,LOWER_UP>/);
  });

  it('has loopback and an eth0 with an address, a route and a DNS forwarder with network sandbox', async () => {
    const result = await sh('ip addr; ip route; nslookup deb.debian.org', { network: 'sandbox', resolvConf: 'nameserver 10.0.2.3\n' });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/1: lo: <LOOPBACK,UP,LOWER_UP>/);
    expect(result.stdout).toMatch(/eth0: .*\n.*\n\s*inet 10\.0\.2\.100\/24/);
    expect(result.stdout).toContain('default via 10.0.2.2 dev eth0');
    expect(result.stdout).toMatch(/Name:\s+deb\.debian\.org/);
  });

  it('shares the host network with network host', async () => {
    const host = await readFile('/proc/net/dev', 'utf8');
    const result = await sh('cat /proc/net/dev', { network: 'host' });
    expect(result.stdout.trim().split('\n').length).toBe(host.trim().split('\n').length);
  });

  it("runs with docker's default capabilities and no_new_privs", async () => {
    const result = await sh('grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)" /proc/self/status');
    expect(result.stdout).toContain('CapEff:\t00000000a80425fb');
    expect(result.stdout).toContain('CapPrm:\t00000000a80425fb');
    expect(result.stdout).toContain('CapBnd:\t00000000a80425fb');
    expect(result.stdout).toContain('CapAmb:\t0000000000000000');
    expect(result.stdout).toContain('NoNewPrivs:\t1');
  });

  it('cannot mount or use other dropped capabilities', async () => {
    const result = await sh('mount -t tmpfs none /tmp 2>&1 || echo denied; hostname other 2>&1 || echo denied2');
    expect(result.stdout).toContain('denied');
    expect(result.stdout).toContain('denied2');
  });

  it('hides and protects kernel paths like docker', async () => {
    const result = await sh('cat /proc/kcore | wc -c; echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo ro');
    expect(result.stdout).toBe('0\nro\n');
  });
});

describe('user, environment, hostname', () => {
  it('applies uid, gid and supplementary groups; a non-root user has no capabilities', async () => {
    const result = await sh('grep -E "^(Uid|Gid|Groups|CapEff)" /proc/self/status; id -u; id -g', {
      uid: 1000,
      gid: 1001,
      groups: [1001, 20],
    });
    expect(result.stdout).toMatch(/Uid:\t1000\t1000\t1000\t1000/);
    expect(result.stdout).toMatch(/Gid:\t1001\t1001\t1001\t1001/);
    expect(result.stdout).toMatch(/Groups:\t20 1001\s*\n/);
    expect(result.stdout).toContain('CapEff:\t0000000000000000');
    expect(result.stdout).toContain('1000\n1001\n');
  });

  it('applies env and the working directory, and looks commands up in the container PATH', async () => {
    const result = await run({
      ...shellSpec(await overlay(), ''),
      args: ['sh', '-c', 'echo "$FOO|$BAR|$PATH"; pwd'],
      env: ['PATH=/bin', 'FOO=foo value', 'BAR='],
      cwd: '/bin',
    });
    expect(result).toMatchObject({ exitCode: 0, stdout: 'foo value||/bin\n/bin\n' });
    const none = await run({ ...shellSpec(await overlay(), ''), args: ['env'], env: [] });
    expect(none.stdout).toBe('');
  });

  it('sets the hostname and generates /etc/hosts, /etc/hostname, /etc/resolv.conf', async () => {
    const result = await sh('hostname; cat /etc/hostname /etc/hosts /etc/resolv.conf', {
      hostname: 'box',
      resolvConf: 'nameserver 10.0.0.1\n',
    });
    expect(result.stdout).toBe('box\nbox\n127.0.0.1\tlocalhost box\n::1\tlocalhost ip6-localhost ip6-loopback\nnameserver 10.0.0.1\n');
    const custom = await sh('cat /etc/hosts', { hosts: '10.1.2.3 registry\n' });
    expect(custom.stdout).toBe('10.1.2.3 registry\n');
  });

  it('gives a working /dev', async () => {
    const result = await sh(
      'echo x > /dev/null && head -c 4 /dev/zero | wc -c && head -c 8 /dev/urandom | wc -c && ls /dev/pts /dev/shm >/dev/null && ls -l /dev/ptmx /dev/fd /dev/stdout',
    );
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('4\n8\n');
    expect(result.stdout).toContain('/dev/ptmx -> pts/ptmx');
    expect(result.stdout).toContain('/dev/fd -> /proc/self/fd');
  });
});
