/**
 * Test fixtures for real containers: a minimal rootfs made of the host's static busybox, and a
 * runner that collects a container's output. Used by test/exec and test/snapshot.
 */
import { chmod, copyFile, lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runContainer, type ContainerResult, type ContainerSpec } from '../../src/exec/index.ts';

export const BUSYBOX = '/usr/bin/busybox';

/** Applets the tests use; each becomes a symlink to /bin/busybox. */
const APPLETS = [
  'sh', 'ls', 'cat', 'id', 'ps', 'ip', 'echo', 'true', 'false', 'sleep', 'touch', 'mkdir', 'rm',
  'mount', 'hostname', 'pwd', 'env', 'grep', 'wc', 'kill', 'stat', 'chmod', 'mknod', 'ln', 'mv',
  'head', 'test', 'printf', 'cp', 'rmdir',
];

export async function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `berth-test-${prefix}-`));
}

/** A busybox rootfs under `dir`: /bin only (no /etc, /proc, /dev: the runtime must stub them). */
export async function makeBusyboxRootfs(dir: string): Promise<string> {
  await mkdir(join(dir, 'bin'), { recursive: true, mode: 0o755 });
  await copyFile(BUSYBOX, join(dir, 'bin', 'busybox'));
  await chmod(join(dir, 'bin', 'busybox'), 0o755);
  for (const applet of APPLETS) await symlink('busybox', join(dir, 'bin', applet));
  return dir;
}

export interface Captured extends ContainerResult {
  stdout: string;
  stderr: string;
}

export const BASE_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root'];

/** A spec for `sh -c script` as root with no network; override anything via `extra`. */
export function shellSpec(rootfs: ContainerSpec['rootfs'], script: string, extra: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    rootfs,
    args: ['/bin/sh', '-c', script],
    env: BASE_ENV,
    cwd: '/',
    uid: 0,
    gid: 0,
    groups: [],
    hostname: 'buildkitsandbox',
    network: 'none',
    ...extra,
  };
}

export async function run(spec: ContainerSpec, signal?: AbortSignal): Promise<Captured> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const result = await runContainer(spec, {
    onStdout: (chunk) => out.push(chunk),
    onStderr: (chunk) => err.push(chunk),
    signal,
  });
  return { ...result, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

/** Every path under `dir`, relative, sorted: what a layer would contain. */
export async function listTree(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const name of await readdir(join(dir, rel))) {
      const path = rel ? `${rel}/${name}` : name;
      found.push(path);
      if ((await lstat(join(dir, path))).isDirectory()) await walk(path);
    }
  };
  await walk('');
  return found.sort();
}

/**
 * Live (non-zombie) processes whose command line contains `needle`; with `parent`, only children
 * of that pid (other test files run containers at the same time).
 */
export async function findProcesses(needle: string, parent?: number): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmdline = (await readFile(`/proc/${name}/cmdline`, 'utf8')).replace(/\0/g, ' ');
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (state !== 'Z' && cmdline.includes(needle) && (parent === undefined || ppid === parent)) pids.push(Number(name));
    } catch {
      // raced with the process exiting
    }
  }
  return pids;
}

export async function removeTree(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Pids whose mount namespace has a mount mentioning `path` (in any namespace, not just ours). */
export async function mountNamespacesMentioning(path: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if ((await readFile(`/proc/${name}/mountinfo`, 'utf8')).includes(path)) pids.push(Number(name));
    } catch {
      // raced with the process exiting
    }
  }
  return pids;
}
