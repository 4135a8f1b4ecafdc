/**
 * What a run leaves behind: only the command's changes in the upper dir, nothing mounted, no
 * process. Also deep overlay chains, bind and tmpfs mounts, read-only dir rootfs. Needs root.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerSpec } from '../../src/exec/index.ts';
import { findProcesses, listTree, mountNamespacesMentioning, makeBusyboxRootfs, makeTempDir, removeTree, run, shellSpec } from './busybox.ts';

let base: string;
let rootfs: string;
let n = 0;

async function overlay(lowerDirs: string[] = [rootfs]): Promise<Extract<ContainerSpec['rootfs'], { kind: 'overlay' }>> {
  const dir = join(base, `run-${n++}`);
  await mkdir(join(dir, 'upper'), { recursive: true });
  await mkdir(join(dir, 'work'));
  return { kind: 'overlay', lowerDirs, upperDir: join(dir, 'upper'), workDir: join(dir, 'work') };
}

beforeAll(async () => {
  base = await makeTempDir('mounts');
  rootfs = await makeBusyboxRootfs(join(base, 'rootfs'));
});

afterAll(async () => {
  await removeTree(base);
});

describe('upper dir after a run', () => {
  it('is empty after `true` on a rootfs without /etc, /proc, /dev, /sys', async () => {
    const fs = await overlay();
    const upperTimes = await stat(fs.upperDir);
    const result = await run(shellSpec(fs, 'true'));
    expect(result.exitCode).toBe(0);
    expect(await listTree(fs.upperDir)).toEqual([]);
    expect((await stat(fs.upperDir)).mtimeMs).toBe(upperTimes.mtimeMs);
  });

  it("holds exactly the command's changes", async () => {
    const fs = await overlay();
    await run(shellSpec(fs, 'touch /newfile; mkdir -p /etc/app && echo x > /etc/app/conf; echo y > /proc/../made'));
    expect(await listTree(fs.upperDir)).toEqual(['etc', 'etc/app', 'etc/app/conf', 'made', 'newfile']);
  });

  it('keeps a stub directory the command filled, but not our mounts in it', async () => {
    const fs = await overlay();
    await run(shellSpec(fs, 'echo data > /dev/../etc/passwd'));
    expect(await listTree(fs.upperDir)).toEqual(['etc', 'etc/passwd']);
  });

  it('restores the times of existing directories it created mount points in', async () => {
    const lower = join(base, 'with-etc');
    await makeBusyboxRootfs(lower);
    await mkdir(join(lower, 'etc'));
    const past = new Date('2020-01-02T03:04:05Z');
    await utimes(join(lower, 'etc'), past, past);
    const fs = await overlay([lower]);
    await run(shellSpec(fs, 'cat /etc/hosts >/dev/null'));
    // overlay copied /etc up to create the /etc/hosts mount point; it must look untouched
    expect(await listTree(fs.upperDir)).toEqual(['etc']);
    expect((await stat(join(fs.upperDir, 'etc'))).mtime.toISOString()).toBe(past.toISOString());
  });
});

describe('deep overlay chains', () => {
  it('mounts 100 lower layers with long paths, top first', async () => {
    const longDir = join(base, 'layers', 'l'.repeat(120), 'm'.repeat(120));
    const lowers: string[] = [];
    for (let i = 0; i < 100; i++) {
      const dir = join(longDir, `layer-${String(i).padStart(3, '0')}`);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, `file-${i}`), `${i}\n`);
      await writeFile(join(dir, 'value'), `${i}\n`);
      lowers.unshift(dir); // layer 99 is the top
    }
    expect(lowers[0].length).toBeGreaterThan(255);
    const result = await run(shellSpec(await overlay([...lowers, rootfs]), 'cat /value /file-0 /file-99; ls / | grep -c file-'));
    expect(result).toMatchObject({ exitCode: 0, stdout: '99\n0\n99\n100\n' });
  });
});

describe('bind and tmpfs mounts', () => {
  it('binds host directories and files read-write and read-only', async () => {
    const shared = join(base, 'shared');
    await mkdir(shared);
    await writeFile(join(shared, 'in'), 'from host\n');
    const single = join(base, 'single-file');
    await writeFile(single, 'one file\n');
    const fs = await overlay();
    const result = await run(
      shellSpec(fs, 'cat /mnt/rw/in /opt/file; echo out > /mnt/rw/out; echo no > /mnt/ro/x 2>/dev/null || echo ro-ok', {
        mounts: [
          { kind: 'bind', source: shared, target: '/mnt/rw', readonly: false },
          { kind: 'bind', source: shared, target: '/mnt/ro', readonly: true },
          { kind: 'bind', source: single, target: '/opt/file', readonly: true },
        ],
      }),
    );
    expect(result).toMatchObject({ exitCode: 0, stdout: 'from host\none file\nro-ok\n' });
    expect(await readFile(join(shared, 'out'), 'utf8')).toBe('out\n');
    expect(await listTree(fs.upperDir)).toEqual([]);
  });

  it('mounts tmpfs whose contents never reach the layer', async () => {
    const fs = await overlay();
    const result = await run(
      shellSpec(fs, 'echo t > /cache/x && cat /cache/x && stat -c %a /cache && grep " /cache " /proc/mounts', {
        mounts: [{ kind: 'tmpfs', target: '/cache', size: 1 << 20 }],
      }),
    );
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^t\n1777\ntmpfs \/cache tmpfs rw,nosuid,nodev,relatime,size=1024k/);
    expect(await listTree(fs.upperDir)).toEqual([]);
  });

  it('runs on a read-only directory rootfs and leaves it as it was', async () => {
    const dir = join(base, 'dir-rootfs');
    await makeBusyboxRootfs(dir);
    const before = await listTree(dir);
    const result = await run(
      shellSpec({ kind: 'dir', path: dir, readonly: true }, 'touch /x 2>/dev/null || echo ro; ls /mnt', {
        mounts: [{ kind: 'tmpfs', target: '/mnt/t' }],
      }),
    );
    expect(result).toMatchObject({ exitCode: 0, stdout: 'ro\nt\n' });
    expect(await listTree(dir)).toEqual(before);
  });
});

describe('aborting a run', () => {
  it('kills every container process and leaves no mount behind', async () => {
    const fs = await overlay();
    const controller = new AbortController();
    // a sleep length no other process on the host uses identifies the container's processes
    const marker = `sleep ${100000 + (process.pid % 50000) * 10 + (Date.now() % 10)}`;
    const spec = shellSpec(fs, `(${marker} &); ${marker}`);
    const pending = run(spec, controller.signal).catch((error: unknown) => error);
    // wait for the container to be fully up
    for (let i = 0; i < 200 && (await findProcesses(marker)).length < 2; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await findProcesses(marker)).length).toBe(2);
    const mountsDuring = await readFile('/proc/self/mountinfo', 'utf8');
    expect((await mountNamespacesMentioning(fs.upperDir)).length).toBeGreaterThan(0);
    expect(await findProcesses('berth-sandbox', process.pid)).toHaveLength(1);
    controller.abort();
    const error = await pending;
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe('AbortError');
    expect(await findProcesses(marker)).toEqual([]);
    expect(await findProcesses('berth-sandbox', process.pid)).toEqual([]);
    const mountsAfter = await readFile('/proc/self/mountinfo', 'utf8');
    expect(mountsAfter).not.toContain(base);
    expect(mountsDuring).not.toContain(base); // the container's mounts were never visible here
    expect(await mountNamespacesMentioning(fs.upperDir)).toEqual([]);
    await removeTree(fs.upperDir);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(run(shellSpec(await overlay(), 'true'), controller.signal)).rejects.toThrow(/abort/i);
  });
});

describe('berth dying', () => {
  it('takes the container with it (PR_SET_PDEATHSIG)', async () => {
    const fs = await overlay();
    const marker = `sleep ${300000 + (process.pid % 50000) * 10 + 2}`;
    const module = new URL('../../src/exec/index.ts', import.meta.url).pathname;
    const script = `import { runContainer } from ${JSON.stringify(module)};
      const spec = ${JSON.stringify(shellSpec(fs, `(${marker} &); ${marker}`))};
      await runContainer(spec, { onStdout() {}, onStderr() {} });`;
    const node = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
    // node's own command line holds the marker too
    const sleeping = async (): Promise<number[]> => (await findProcesses(marker)).filter((pid) => pid !== node.pid);
    try {
      for (let i = 0; i < 200 && (await sleeping()).length < 2; i++) await new Promise((r) => setTimeout(r, 25));
      expect((await sleeping()).length).toBe(2);
    } finally {
      if (node.exitCode === null && node.signalCode === null) {
        const exited = new Promise((resolve) => node.once('exit', resolve));
        node.kill('SIGKILL');
        await exited;
      }
    }
    for (let i = 0; i < 200 && (await sleeping()).length > 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(await sleeping()).toEqual([]);
    for (let i = 0; i < 200 && (await mountNamespacesMentioning(fs.upperDir)).length > 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(await mountNamespacesMentioning(fs.upperDir)).toEqual([]);
  });
});
