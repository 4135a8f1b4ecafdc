/**
 * The helper's mounts for RUN --mount: lowerdir-only and throwaway-upper overlays, subpaths that
 * cannot leave their tree, file mounts (secrets) that exist only in the container, stub
 * directories that stay when asked, privileged runs and lock files. Needs root.
 */
import { lstat, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerSpec, MountSpec } from '../../src/exec/index.ts';
import { decodePairs, encodeSpec } from '../../src/exec/spec.ts';
import { listTree, makeBusyboxRootfs, makeTempDir, removeTree, run, shellSpec } from './busybox.ts';

let base: string;
let rootfs: string;
let layerA: string;
let layerB: string;
let n = 0;

async function overlay(): Promise<Extract<ContainerSpec['rootfs'], { kind: 'overlay' }>> {
  const dir = join(base, `run-${n++}`);
  await mkdir(join(dir, 'upper'), { recursive: true });
  await mkdir(join(dir, 'work'));
  return { kind: 'overlay', lowerDirs: [rootfs], upperDir: join(dir, 'upper'), workDir: join(dir, 'work') };
}

async function throwaway(): Promise<{ upperDir: string; workDir: string }> {
  const dir = join(base, `mount-${n++}`);
  await mkdir(join(dir, 'upper'), { recursive: true });
  await mkdir(join(dir, 'work'));
  return { upperDir: join(dir, 'upper'), workDir: join(dir, 'work') };
}

beforeAll(async () => {
  base = await makeTempDir('run-mounts');
  rootfs = await makeBusyboxRootfs(join(base, 'rootfs'));
  // Two layers of a "stage": b is on top of a and overrides one of its files.
  layerA = join(base, 'layer-a');
  layerB = join(base, 'layer-b');
  await mkdir(join(layerA, 'tools/sub'), { recursive: true });
  await writeFile(join(layerA, 'tools/t'), 'from a\n');
  await writeFile(join(layerA, 'tools/sub/s'), 'sub\n');
  await symlink('/tools/sub', join(layerA, 'tools/abs-link'));
  await symlink('../../../../..', join(layerA, 'tools/up'));
  await mkdir(join(layerB, 'tools'), { recursive: true });
  await writeFile(join(layerB, 'tools/t'), 'from b\n');
});

afterAll(async () => {
  await removeTree(base);
});

describe('overlay mounts', () => {
  it('mounts layers read-only, top first, without copying them', async () => {
    const fs = await overlay();
    const mounts: MountSpec[] = [{ kind: 'overlay', lowerDirs: [layerB, layerA], target: '/stage', readonly: true }];
    const result = await run(shellSpec(fs, 'cat /stage/tools/t /stage/tools/sub/s; touch /stage/x 2>/dev/null || echo ro', { mounts }));
    expect(result).toMatchObject({ exitCode: 0, stdout: 'from b\nsub\nro\n' });
    expect(await listTree(fs.upperDir)).toEqual([]);
  });

  it('sends writes of a rw overlay to its own upper dir, never to the layers or the rootfs', async () => {
    const fs = await overlay();
    const upper = await throwaway();
    const mounts: MountSpec[] = [{ kind: 'overlay', lowerDirs: [layerB, layerA], target: '/rw', readonly: false, ...upper }];
    const result = await run(shellSpec(fs, 'echo new > /rw/tools/new && rm /rw/tools/t && ls /rw/tools', { mounts }));
    expect(result).toMatchObject({ exitCode: 0, stdout: 'abs-link\nnew\nsub\nup\n' });
    expect(await readFile(join(layerB, 'tools/t'), 'utf8')).toBe('from b\n');
    expect(await listTree(layerB)).toEqual(['tools', 'tools/t']);
    expect(await listTree(upper.upperDir)).toEqual(['tools', 'tools/new', 'tools/t']);
    expect(await listTree(fs.upperDir)).toEqual([]);
  });

  it('resolves a subpath inside the tree: absolute links and .. stay in it', async () => {
    const fs = await overlay();
    const mounts: MountSpec[] = [
      { kind: 'overlay', lowerDirs: [layerB, layerA], target: '/l', readonly: true, subpath: 'tools/abs-link' },
      { kind: 'overlay', lowerDirs: [layerB, layerA], target: '/u', readonly: true, subpath: 'tools/up/tools' },
      { kind: 'overlay', lowerDirs: [layerB, layerA], target: '/f', readonly: true, subpath: 'tools/t' },
    ];
    const result = await run(shellSpec(fs, 'cat /l/s; ls /u; cat /f', { mounts }));
    expect(result).toMatchObject({ exitCode: 0, stdout: 'sub\nabs-link\nsub\nt\nup\nfrom b\n' });
  });

  it('resolves a bind subpath inside its source, never on the host', async () => {
    const src = join(base, 'ctx');
    await mkdir(join(src, 'etc'), { recursive: true });
    await writeFile(join(src, 'etc/hostname'), 'context-hostname\n');
    await symlink('/etc', join(src, 'etc-link'));
    const fs = await overlay();
    const mounts: MountSpec[] = [{ kind: 'bind', source: src, target: '/h', readonly: true, subpath: 'etc-link/hostname' }];
    const result = await run(shellSpec(fs, 'cat /h', { mounts }));
    expect(result).toMatchObject({ exitCode: 0, stdout: 'context-hostname\n' });
  });

  it('fails setup for a subpath that does not exist', async () => {
    const fs = await overlay();
    const mounts: MountSpec[] = [{ kind: 'overlay', lowerDirs: [layerB, layerA], target: '/x', readonly: true, subpath: 'nope' }];
    await expect(run(shellSpec(fs, 'true', { mounts }))).rejects.toThrow(/mount source nope for \/x: No such file/);
  });
});

describe('file mounts', () => {
  it('shows the bytes read-only with the given owner and mode, and leaves nothing behind', async () => {
    const fs = await overlay();
    const content = Buffer.from([0x73, 0x00, 0xff, 0x0a, 0x41]);
    const mounts: MountSpec[] = [{ kind: 'file', target: '/run/secrets/tok', content, mode: 0o440, uid: 1000, gid: 27 }];
    const result = await run(shellSpec(fs, 'od -An -tx1 /run/secrets/tok; stat -c "%a %u %g" /run/secrets/tok; echo x > /run/secrets/tok 2>/dev/null || echo ro; ls -A /dev', { mounts }));
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0].trim()).toBe('73 00 ff 0a 41');
    expect(lines[1]).toBe('440 1000 27');
    expect(lines[2]).toBe('ro');
    expect(result.stdout).not.toContain('.berth');
    expect(await listTree(fs.upperDir)).toEqual([]);
  });

  it('carries any bytes through the spec as hex', () => {
    const spec = shellSpec({ kind: 'dir', path: '/' }, 'true', {
      mounts: [{ kind: 'file', target: '/s', content: Buffer.from('a\0b'), mode: 0o400, uid: 0, gid: 0 }],
    });
    const pairs = decodePairs(encodeSpec(spec, 1));
    expect(pairs.find(([k]) => k === 'content')?.[1]).toBe('610062');
  });
});

describe('mount points', () => {
  it('keeps directories made for a mount with keepStubDirs, but not its file stub', async () => {
    const fs = await overlay();
    const single = join(base, 'single');
    await writeFile(single, 'one\n');
    const mounts: MountSpec[] = [
      { kind: 'tmpfs', target: '/a/b', keepStubDirs: true },
      { kind: 'bind', source: single, target: '/x/y/file', readonly: true, keepStubDirs: true },
      { kind: 'tmpfs', target: '/gone/too' },
    ];
    const result = await run(shellSpec(fs, 'cat /x/y/file', { mounts }));
    expect(result).toMatchObject({ exitCode: 0, stdout: 'one\n' });
    expect(await listTree(fs.upperDir)).toEqual(['a', 'a/b', 'x', 'x/y']);
    expect(((await lstat(join(fs.upperDir, 'a/b'))).mode & 0o7777).toString(8)).toBe('755');
  });
});

describe('a build step (buildStep)', () => {
  // As BuildKit's runc runs a RUN: the uts name but no /etc/hostname, and the empty /dev, /proc
  // and /sys made for a rootfs without them stay in the layer (Docker 20.10 and 26).
  it('has no /etc/hostname and leaves the empty /dev, /proc and /sys it made', async () => {
    const fs = await overlay();
    const result = await run(shellSpec(fs, 'ls /etc; hostname', { buildStep: true }));
    expect(result).toMatchObject({ exitCode: 0, stdout: 'hosts\nresolv.conf\nbuildkitsandbox\n' });
    expect(await listTree(fs.upperDir)).toEqual(['dev', 'proc', 'sys']);
    const plain = await overlay();
    const other = await run(shellSpec(plain, 'ls /etc'));
    expect(other).toMatchObject({ exitCode: 0, stdout: 'hostname\nhosts\nresolv.conf\n' });
    expect(await listTree(plain.upperDir)).toEqual([]);
  });
});

describe('privileged runs', () => {
  it('get every capability we hold, an unmasked /proc and no no_new_privs', async () => {
    const fs = await overlay();
    const script = 'grep -E "^(CapEff|NoNewPrivs)" /proc/self/status; grep -cE " /proc/(keys|timer_list|interrupts|sched_debug|kcore) " /proc/mounts || true';
    const normal = await run(shellSpec(fs, script));
    const privileged = await run(shellSpec(fs, script, { privileged: true }));
    expect(normal.stdout).toMatch(/CapEff:\s+00000000a80425fb\nNoNewPrivs:\s+1\n[1-9]\n/);
    const capEff = /CapEff:\s+([0-9a-f]+)/.exec(privileged.stdout)![1];
    // "Every" is every capability berth itself holds (all of them unless it runs confined).
    const ours = /CapPrm:\s+([0-9a-f]+)/.exec(await readFile('/proc/self/status', 'utf8'))![1];
    expect(capEff).toBe(ours);
    expect(privileged.stdout).toMatch(/NoNewPrivs:\s+0\n0\n/);
  });
});

describe('locks', () => {
  it('runs holders of one exclusive lock one after the other', async () => {
    const log = join(base, 'lock-log');
    await mkdir(log);
    const lock = join(base, 'cache.lock');
    const spec = async (name: string): Promise<ContainerSpec> => shellSpec(await overlay(),
      `echo start-${name} >> /log/order; sleep 0.3; echo end-${name} >> /log/order`, {
        mounts: [{ kind: 'bind', source: log, target: '/log', readonly: false }],
        locks: [{ path: lock, shared: false }],
      });
    const [a, b] = await Promise.all([run(await spec('a')), run(await spec('b'))]);
    expect(a.exitCode + b.exitCode).toBe(0);
    const order = (await readFile(join(log, 'order'), 'utf8')).trim().split('\n');
    expect(order).toHaveLength(4);
    expect(order[0].replace('start-', 'end-')).toBe(order[1]);
    expect(order[2].replace('start-', 'end-')).toBe(order[3]);
    expect((await stat(lock)).isFile()).toBe(true);
  });

  it('lets shared holders overlap', async () => {
    const log = join(base, 'shared-log');
    await mkdir(log);
    const lock = join(base, 'shared.lock');
    const spec = async (name: string): Promise<ContainerSpec> => shellSpec(await overlay(),
      `echo start-${name} >> /log/order; sleep 0.3; echo end-${name} >> /log/order`, {
        mounts: [{ kind: 'bind', source: log, target: '/log', readonly: false }],
        locks: [{ path: lock, shared: true }],
      });
    await Promise.all([run(await spec('a')), run(await spec('b'))]);
    const order = (await readFile(join(log, 'order'), 'utf8')).trim().split('\n');
    expect(order.slice(0, 2).every((l) => l.startsWith('start-'))).toBe(true);
  });

  it('refuses a lock listed twice (the helper would wait for itself)', () => {
    const spec = shellSpec({ kind: 'dir', path: '/' }, 'true', { locks: [{ path: '/l', shared: true }, { path: '/l', shared: false }] });
    expect(() => encodeSpec(spec)).toThrow(/listed twice/);
  });
});
