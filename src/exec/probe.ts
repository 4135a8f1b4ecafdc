/**
 * What protection a RUN container really gets on this host, found by running one: `berth info`
 * shows it. Reading the settings berth sends would only repeat what berth means to do; a container
 * started the way a RUN step is started shows what the kernel actually applied (a missing
 * seccomp, a cgroup controller the host does not have, slirp4netns not installed).
 *
 * The probe container's root is an empty temporary directory with the host's /usr (and /bin,
 * /lib... where they are directories, not merged-/usr links) bound in read-only: it needs a shell,
 * and the host is the one place that surely has one. Everything it reads is its own (its /proc,
 * its mount table, its network namespace).
 */
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { runContainer } from './run.ts';
import type { MountSpec } from './spec.ts';
import { findSlirp4netns } from './network.ts';
import { hostUid, userNamespace, type IdRange } from '../sys/userns.ts';
import { DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS } from './spec.ts';

export interface ContainerFacts {
  seccompMode: number;
  seccompFilters: number;
  noNewPrivs: boolean;
  capEff: string;
  /** The mount options of the container's root, e.g. ["ro", "nosuid", "nodev"]. */
  rootOptions: string[];
  interfaces: string[];
  /** Lines of /proc/self/cgroup that name the devices controller or the v2 hierarchy. */
  deviceCgroup?: string;
}

export interface HostFacts {
  kernel: string;
  /** The user who runs berth, as the host sees them. */
  uid: number;
  /** berth's own user namespace (rootless), with its id ranges. */
  userns?: { uids: IdRange[]; gids: IdRange[] };
  cgroup: 'v1' | 'v2' | 'hybrid' | 'none';
  devicesController: boolean;
  userNamespaces: boolean;
  slirp4netns?: { path: string; version: string };
}

const SECTION = '---berth-probe---';

/** The mask Docker's default capabilities make, as /proc/<pid>/status prints it. */
export function defaultCapabilityMask(): string {
  let mask = 0n;
  for (const bit of Object.values(DEFAULT_CAPABILITIES)) mask |= 1n << BigInt(bit);
  return mask.toString(16).padStart(16, '0');
}

function statusField(status: string, name: string): string | undefined {
  return new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim();
}

/** Parses the probe's output: status, mountinfo, net/dev and cgroup, in that order. */
export function parseProbeOutput(text: string): ContainerFacts {
  const [status = '', mountinfo = '', netdev = '', cgroup = ''] = text.split(`${SECTION}\n`);
  const rootLine = mountinfo.split('\n').find((line) => line.split(' ')[4] === '/');
  const interfaces = netdev.split('\n').map((line) => /^\s*([^:\s]+):/.exec(line)?.[1]).filter((x): x is string => !!x);
  const deviceCgroup = cgroup.split('\n').find((line) => /:devices:/.test(line) || line.startsWith('0::'));
  return {
    seccompMode: Number(statusField(status, 'Seccomp') ?? 0),
    seccompFilters: Number(statusField(status, 'Seccomp_filters') ?? 0),
    noNewPrivs: statusField(status, 'NoNewPrivs') === '1',
    capEff: statusField(status, 'CapEff') ?? '',
    rootOptions: rootLine ? rootLine.split(' ')[5].split(',') : [],
    interfaces,
    deviceCgroup,
  };
}

/** The host's program directories for the probe's root: links copied, directories bound read-only. */
function hostPrograms(root: string): MountSpec[] {
  const mounts: MountSpec[] = [];
  for (const name of ['usr', 'bin', 'sbin', 'lib', 'lib64']) {
    const host = `/${name}`;
    const stat = lstatSync(host, { throwIfNoEntry: false });
    if (stat?.isSymbolicLink()) symlinkSync(readlinkSync(host), path.join(root, name));
    else if (stat?.isDirectory()) mounts.push({ kind: 'bind', source: host, target: host, readonly: true });
  }
  return mounts;
}

/** Runs a container the way a RUN step runs (sandbox network, default profile) and reads it. */
export async function probeContainer(): Promise<ContainerFacts> {
  let stdout = '';
  let stderr = '';
  const script = ['status', 'mountinfo', 'net/dev', 'cgroup'].map((f) => `cat /proc/self/${f}`).join(`; echo ${SECTION}; `);
  const root = mkdtempSync(path.join(os.tmpdir(), 'berth-info-'));
  try {
    const result = await runContainer({
      rootfs: { kind: 'dir', path: root, readonly: true },
      mounts: hostPrograms(root),
      args: ['/bin/sh', '-c', script],
      env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], cwd: '/', uid: 0, gid: 0, groups: [],
      hostname: 'berth-info', network: 'sandbox',
    }, {
      onStdout: (chunk) => { stdout += chunk.toString('utf8'); },
      onStderr: (chunk) => { stderr += chunk.toString('utf8'); },
    });
    if (result.exitCode !== 0) throw new Error(`the probe container failed (exit ${result.exitCode}): ${stderr.trim()}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return parseProbeOutput(stdout);
}

function cgroupLayout(): HostFacts['cgroup'] {
  let mounts = '';
  try {
    mounts = readFileSync('/proc/self/mounts', 'utf8');
  } catch {
    return 'none';
  }
  const v1 = / cgroup /.test(mounts);
  const v2 = / cgroup2 /.test(mounts);
  if (v1 && v2) return 'hybrid';
  if (v2) return 'v2';
  return v1 ? 'v1' : 'none';
}

function slirpVersion(path: string): string {
  try {
    return execFileSync(path, ['--version'], { encoding: 'utf8', timeout: 5_000 }).split('\n')[0].replace(/^slirp4netns version /, '');
  } catch {
    return 'unknown version';
  }
}

function readNumber(path: string): number | undefined {
  try {
    return Number(readFileSync(path, 'utf8').trim());
  } catch {
    return undefined;
  }
}

export function hostFacts(): HostFacts {
  const slirp = findSlirp4netns();
  let kernel = '';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    // left empty
  }
  let devicesController = false;
  try {
    devicesController = /^devices\s/m.test(readFileSync('/proc/cgroups', 'utf8'));
  } catch {
    // no cgroups
  }
  return {
    kernel,
    uid: hostUid(),
    userns: userNamespace().rootless ? { uids: userNamespace().uids, gids: userNamespace().gids } : undefined,
    cgroup: cgroupLayout(),
    devicesController,
    userNamespaces: (readNumber('/proc/sys/user/max_user_namespaces') ?? 0) > 0,
    slirp4netns: slirp ? { path: slirp, version: slirpVersion(slirp) } : undefined,
  };
}

export const KERNEL_PATHS = { masked: MASKED_PATHS.length, readonly: READONLY_PATHS.length };
