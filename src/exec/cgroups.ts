/**
 * `--cgroup-parent`, `--memory`, `--memory-swap`, `--cpu-shares`, `--cpu-period`, `--cpu-quota`,
 * `--cpuset-cpus` and `--cpuset-mems`, as `docker build` (and `docker run`) read them: the
 * cgroups a container is put in and what is written into them. The helper (native/src/limits.c)
 * makes `<dir>/<its pid>-<its start time>` in each, writes the settings in order, moves the init
 * in before anything of the container runs and removes them once it is gone.
 *
 * cgroup v1 (and the v1 half of a hybrid host, where the controllers live) is what is written
 * here. A host with only the v2 hierarchy gets a clear error for a limit, not a silent no-op.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** A build's (or `berth run`'s) resource flags, already checked. Sizes in bytes, times in µs. */
export interface ResourceLimits {
  cgroupParent?: string;
  memory?: number;
  /** Memory plus swap; -1 unlimited swap. Absent with `memory`: twice `memory`, as Docker. */
  memorySwap?: number;
  cpuShares?: number;
  cpuPeriod?: number;
  cpuQuota?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
}

/** A v1 hierarchy: its controllers, where it is mounted, and where berth and pid 1 are in it. */
export interface CgroupHierarchy {
  controllers: string[];
  mount: string;
  /** The mount's root inside the hierarchy (not `/` when the host itself is a container). */
  root: string;
  own: string;
  init: string;
  /** A memory hierarchy with swap accounting (memory.memsw.* files). */
  swapAccounting?: boolean;
}

/** One cgroup the container joins: made below `parent`, then `settings` written in order. */
export interface CgroupRequest {
  parent: string;
  settings: Array<[file: string, value: string]>;
}

/** The host's cgroup layout as the helper will see it (berth's child, in berth's cgroups). */
export interface CgroupHost {
  hierarchies: CgroupHierarchy[];
  /** Only the v2 hierarchy: no v1 controller files to write. */
  v2Only: boolean;
}

/** Where berth puts its containers' cgroups when no --cgroup-parent is given: below its own. */
export const LIMITS_CGROUP_ROOT = 'berth';

/** `id:controllers:path` lines of /proc/PID/cgroup, v1 entries (a non-empty controller list) only. */
function cgroupPaths(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]+):(.*)$/.exec(line);
    if (m) out.set(m[1].split(',').sort().join(','), m[2]);
  }
  return out;
}

/** The v1 hierarchies of a mountinfo text, with berth's and pid 1's place in each. */
export function parseHierarchies(mountinfo: string, selfCgroup: string, initCgroup: string): CgroupHost {
  const own = cgroupPaths(selfCgroup);
  const init = cgroupPaths(initCgroup);
  const hierarchies: CgroupHierarchy[] = [];
  let v2 = false;
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!right) continue;
    const [fstype, , superOptions = ''] = right.split(' ');
    if (fstype === 'cgroup2') v2 = true;
    if (fstype !== 'cgroup') continue;
    const fields = left.split(' ');
    const controllers = superOptions.split(',').filter((o) => !['rw', 'ro', 'xattr', 'noprefix', 'clone_children'].includes(o) && !o.startsWith('release_agent='));
    const key = [...controllers].sort().join(',');
    const mine = own.get(key);
    if (mine === undefined || hierarchies.some((h) => h.controllers.join(',') === key)) continue;
    hierarchies.push({ controllers: key.split(','), mount: fields[4], root: fields[3], own: mine, init: init.get(key) ?? '/' });
  }
  return { hierarchies, v2Only: v2 && hierarchies.length === 0 };
}

let hostCache: CgroupHost | undefined;

/** This process's cgroup layout (read once: berth never moves between cgroups). */
export function hostCgroups(): CgroupHost {
  if (!hostCache) {
    const read = (file: string): string => {
      try {
        return readFileSync(file, 'utf8');
      } catch {
        return '';
      }
    };
    hostCache = parseHierarchies(read('/proc/self/mountinfo'), read('/proc/self/cgroup'), read('/proc/1/cgroup'));
    for (const h of hostCache.hierarchies) {
      if (h.controllers.includes('memory')) h.swapAccounting = existsSync(path.join(h.mount, 'memory.memsw.limit_in_bytes'));
    }
  }
  return hostCache;
}

/** `path` of the hierarchy as a directory of its mount; undefined when outside what is mounted. */
function mountedDir(h: CgroupHierarchy, cgroupPath: string): string | undefined {
  const normal = path.posix.normalize(`/${cgroupPath}`);
  if (h.root === '/') return path.join(h.mount, normal);
  if (normal !== h.root && !normal.startsWith(`${h.root}/`)) return undefined;
  return path.join(h.mount, normal.slice(h.root.length));
}

/** Where the container's cgroups go in `h`: --cgroup-parent (relative: to pid 1's, as runc reads it), or below berth's own. */
export function parentDir(h: CgroupHierarchy, cgroupParent: string | undefined): string | undefined {
  if (cgroupParent === undefined) return mountedDir(h, path.posix.join(h.own, LIMITS_CGROUP_ROOT));
  return mountedDir(h, cgroupParent.startsWith('/') ? cgroupParent : path.posix.join(h.init, cgroupParent));
}

/** The controller files a limit is written to, in the order the kernel accepts them. */
function settingsFor(controller: string, limits: ResourceLimits, h: CgroupHierarchy): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (controller === 'memory' && limits.memory !== undefined) {
    out.push(['memory.limit_in_bytes', String(limits.memory)]);
    // Without swap accounting (swapaccount=0) there is no memsw file: Docker limits memory alone.
    if (h.swapAccounting) {
      out.push(['memory.memsw.limit_in_bytes', String(limits.memorySwap ?? limits.memory * 2)]);
    }
  }
  if (controller === 'cpu') {
    if (limits.cpuShares !== undefined) out.push(['cpu.shares', String(limits.cpuShares)]);
    if (limits.cpuPeriod !== undefined) out.push(['cpu.cfs_period_us', String(limits.cpuPeriod)]);
    if (limits.cpuQuota !== undefined) out.push(['cpu.cfs_quota_us', String(limits.cpuQuota)]);
  }
  if (controller === 'cpuset') {
    if (limits.cpusetCpus !== undefined) out.push(['cpuset.cpus', limits.cpusetCpus]);
    if (limits.cpusetMems !== undefined) out.push(['cpuset.mems', limits.cpusetMems]);
  }
  return out;
}

/** The controllers the given limits need (a host without one cannot honour them). */
export function neededControllers(limits: ResourceLimits): string[] {
  const out: string[] = [];
  if (limits.memory !== undefined) out.push('memory');
  if (limits.cpuShares !== undefined || limits.cpuPeriod !== undefined || limits.cpuQuota !== undefined) out.push('cpu');
  if (limits.cpusetCpus !== undefined || limits.cpusetMems !== undefined) out.push('cpuset');
  return out;
}

/**
 * The cgroups a container joins for `limits`. With --cgroup-parent it joins every hierarchy (as
 * Docker's containers do) but `skip` (the devices one when the device cgroup is made there
 * already); without, only those a limit needs. Throws when the host cannot honour a limit.
 */
export function cgroupRequests(limits: ResourceLimits, host: CgroupHost, skip: readonly string[] = []): CgroupRequest[] {
  const needed = neededControllers(limits);
  if (host.v2Only && (needed.length || limits.cgroupParent !== undefined)) {
    throw new Error('resource limits and --cgroup-parent need cgroup v1 controllers; this host has only cgroup v2, which berth does not write to yet');
  }
  for (const controller of needed) {
    if (!host.hierarchies.some((h) => h.controllers.includes(controller))) throw new Error(`this host has no ${controller} cgroup controller mounted`);
  }
  const out: CgroupRequest[] = [];
  for (const h of host.hierarchies) {
    const wanted = limits.cgroupParent !== undefined ? !h.controllers.some((c) => skip.includes(c)) : h.controllers.some((c) => needed.includes(c));
    if (!wanted) continue;
    const parent = parentDir(h, limits.cgroupParent);
    if (!parent) throw new Error(`cgroup ${limits.cgroupParent} is outside the ${h.controllers.join(',')} hierarchy this host mounts at ${h.mount}`);
    out.push({ parent, settings: h.controllers.flatMap((c) => settingsFor(c, limits, h)) });
  }
  return out;
}
