/**
 * `--add-host`, `--shm-size`, `--ulimit` and the cgroup flags (`--cgroup-parent`, `--memory`, `--cpu-*`), read as `docker buildx build` and `docker run` read
 * them, into the options every RUN (or the container) gets.
 */
import { isIP } from 'node:net';
import type { Command } from 'commander';
import type { RunSandboxOptions, Ulimit } from '../plan/index.ts';
import { BuildError } from '../source/index.ts';
import { parseSize } from '../text/units.ts';
import { cgroupRequests, hostCgroups, type ResourceLimits } from '../exec/cgroups.ts';
import { userNamespace } from '../sys/userns.ts';

const ULIMIT_NAMES = new Set([
  'as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime',
  'sigpending', 'stack',
]);

/** `name:ip` or `name=ip` (an IPv6 address may be bracketed); `host-gateway` has no meaning here. */
export function parseAddHost(text: string): { host: string; ip: string } {
  const at = text.search(/[:=]/);
  const host = at < 0 ? '' : text.slice(0, at);
  let ip = at < 0 ? '' : text.slice(at + 1);
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  if (ip === 'host-gateway') {
    // berth's RUN network reaches the internet, never the host itself (its loopback is shut off).
    throw new BuildError(`invalid --add-host "${text}": host-gateway: a berth RUN has no gateway to the host (use --network host to reach it)`);
  }
  if (!host || /\s/.test(host) || isIP(ip) === 0) throw new BuildError(`invalid --add-host "${text}": use NAME:IP (for example db:10.0.0.5)`);
  return { host, ip };
}

function ulimitValue(text: string, flag: string): number {
  if (text === 'unlimited' || text === '-1') return -1;
  if (!/^\d+$/.test(text)) throw new BuildError(`invalid --ulimit "${flag}": "${text}" is not a number`);
  return Number(text);
}

/** `nofile=1024[:2048]` (soft[:hard]; the hard limit defaults to the soft one), `-1` unlimited. */
export function parseUlimit(text: string): Ulimit {
  const eq = text.indexOf('=');
  const name = text.slice(0, Math.max(eq, 0));
  if (eq < 0 || !ULIMIT_NAMES.has(name)) {
    throw new BuildError(`invalid --ulimit "${text}": use NAME=SOFT[:HARD] with NAME one of ${[...ULIMIT_NAMES].join(', ')}`);
  }
  const [softText, hardText = softText, ...rest] = text.slice(eq + 1).split(':');
  if (rest.length) throw new BuildError(`invalid --ulimit "${text}": too many values`);
  const soft = ulimitValue(softText, text);
  const hard = ulimitValue(hardText, text);
  if (hard >= 0 && (soft < 0 || soft > hard)) throw new BuildError(`invalid --ulimit "${text}": the soft limit is above the hard one`);
  return { name, soft, hard };
}

/** The RUN options the flags give; undefined when none was given (cache keys stay as before). */
export function runSandboxOptions(flags: { addHost: string[]; shmSize?: string; ulimit: string[] }): RunSandboxOptions | undefined {
  const out: RunSandboxOptions = {};
  if (flags.addHost.length) out.extraHosts = flags.addHost.map(parseAddHost);
  if (flags.shmSize !== undefined) {
    const size = parseSize(flags.shmSize);
    if (size === undefined || size <= 0) throw new BuildError(`invalid --shm-size "${flags.shmSize}" (a size like 128m or 1g)`);
    out.shmSize = size;
  }
  if (flags.ulimit.length) {
    // One entry per resource, the last given winning, as Docker's map of them does.
    const byName = new Map(flags.ulimit.map(parseUlimit).map((u) => [u.name, u]));
    out.ulimits = [...byName.values()];
  }
  return Object.keys(out).length ? out : undefined;
}

/** The resource flags of `docker build` and `docker run`, as commander gives them. */
export interface ResourceFlags {
  cgroupParent?: string; memory?: string; memorySwap?: string; cpuShares?: string; cpuPeriod?: string; cpuQuota?: string;
  cpusetCpus?: string; cpusetMems?: string;
}

const RESOURCE_FLAGS: ReadonlyArray<keyof ResourceFlags> = [
  'cgroupParent', 'memory', 'memorySwap', 'cpuShares', 'cpuPeriod', 'cpuQuota', 'cpusetCpus', 'cpusetMems',
];

function wholeNumber(text: string, flag: string): number {
  if (!/^-?\d+$/.test(text.trim())) throw new BuildError(`invalid ${flag} "${text}": not a whole number`);
  return Number(text);
}

function bytes(text: string, flag: string): number {
  const size = parseSize(text);
  if (size === undefined) throw new BuildError(`invalid ${flag} "${text}" (a size like 512m or 2g)`);
  return size;
}

/** Docker's own checks (daemon/daemon_unix.go's messages), before any cgroup is made. */
function memoryLimits(flags: ResourceFlags): Pick<ResourceLimits, 'memory' | 'memorySwap'> {
  const memory = flags.memory === undefined ? undefined : bytes(flags.memory, '--memory');
  const swap = flags.memorySwap === undefined ? undefined : flags.memorySwap === '-1' ? -1 : bytes(flags.memorySwap, '--memory-swap');
  if (memory !== undefined && memory > 0 && memory < 6 * 1024 * 1024) throw new BuildError('invalid --memory: the minimum memory limit allowed is 6MB');
  if (swap !== undefined && swap !== 0 && !memory) throw new BuildError('--memory-swap needs --memory: always set the memory limit when using a memory+swap limit');
  if (memory && swap !== undefined && swap > 0 && swap < memory) throw new BuildError('invalid --memory-swap: the memory+swap limit must be at least the --memory limit');
  const out: Pick<ResourceLimits, 'memory' | 'memorySwap'> = {};
  if (memory) out.memory = memory;
  if (memory && swap) out.memorySwap = swap;
  return out;
}

function cpuLimits(flags: ResourceFlags): Pick<ResourceLimits, 'cpuShares' | 'cpuPeriod' | 'cpuQuota'> {
  const out: Pick<ResourceLimits, 'cpuShares' | 'cpuPeriod' | 'cpuQuota'> = {};
  if (flags.cpuShares !== undefined) {
    const shares = wholeNumber(flags.cpuShares, '--cpu-shares');
    if (shares < 0) throw new BuildError('invalid --cpu-shares: it cannot be negative');
    // 0 is "unset" to Docker; the kernel clamps the rest to 2..262144.
    if (shares > 0) out.cpuShares = shares;
  }
  if (flags.cpuPeriod !== undefined) {
    const period = wholeNumber(flags.cpuPeriod, '--cpu-period');
    if (period !== 0 && (period < 1000 || period > 1_000_000)) throw new BuildError('invalid --cpu-period: the CPU CFS period must be between 1ms (1000) and 1s (1000000)');
    if (period) out.cpuPeriod = period;
  }
  if (flags.cpuQuota !== undefined) {
    const quota = wholeNumber(flags.cpuQuota, '--cpu-quota');
    if (quota > 0 && quota < 1000) throw new BuildError('invalid --cpu-quota: the CPU CFS quota cannot be less than 1ms (1000)');
    if (quota > 0) out.cpuQuota = quota;
  }
  return out;
}

/** `0-3,7`: the cpuset list syntax the kernel reads. */
function cpuList(text: string | undefined, flag: string): string | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(text)) throw new BuildError(`invalid ${flag} "${text}": use a list like 0-3,7`);
  return text;
}

/**
 * `--cgroup-parent` and the memory and cpu flags, checked against this host: a limit it cannot
 * apply is an error before anything is built, never a limit silently left off. Undefined when
 * none was given.
 */
export function resourceLimits(flags: ResourceFlags): ResourceLimits | undefined {
  const limits: ResourceLimits = {
    ...memoryLimits(flags), ...cpuLimits(flags),
    ...(flags.cpusetCpus !== undefined ? { cpusetCpus: cpuList(flags.cpusetCpus, '--cpuset-cpus') } : {}),
    ...(flags.cpusetMems !== undefined ? { cpusetMems: cpuList(flags.cpusetMems, '--cpuset-mems') } : {}),
  };
  if (flags.cgroupParent !== undefined) {
    if (flags.cgroupParent === '' || flags.cgroupParent.split('/').includes('..')) throw new BuildError(`invalid --cgroup-parent "${flags.cgroupParent}"`);
    limits.cgroupParent = flags.cgroupParent;
  }
  if (Object.keys(limits).length === 0) return undefined;
  const which = RESOURCE_FLAGS.filter((k) => flags[k] !== undefined).map(flagName).join(', ');
  if (userNamespace().rootless) throw new BuildError(`${which}: a rootless berth cannot write cgroups (it owns none); run as root or leave the flag off`);
  try {
    cgroupRequests(limits, hostCgroups());
  } catch (error) {
    throw new BuildError(`${which}: ${(error as Error).message}`);
  }
  return limits;
}

function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** The cgroup flags on `berth build` (for `where` = every RUN) and `berth run`. */
export function addResourceOptions(command: Command, where: string): Command {
  return command
    .option('--cgroup-parent <path>', `parent cgroup of ${where} (relative: to pid 1's cgroup, as Docker)`)
    .option('-m, --memory <size>', `memory limit of ${where} (e.g. 512m)`)
    .option('--memory-swap <size>', 'memory plus swap limit (-1: unlimited swap; default: twice --memory)')
    .option('--cpu-shares <n>', `relative CPU weight of ${where}`)
    .option('--cpu-period <us>', 'CPU CFS period in microseconds')
    .option('--cpu-quota <us>', 'CPU CFS quota in microseconds per period')
    .option('--cpuset-cpus <list>', `CPUs ${where} may use (0-3, 0,2)`)
    .option('--cpuset-mems <list>', `memory nodes ${where} may use`);
}
