/**
 * What a container run looks like (ContainerSpec) and how it is handed to the native helper.
 *
 * All decisions live here, on the Node side: docker's default capabilities, masked kernel paths,
 * overlay options, the generated /etc files. native/ only performs the system calls. The wire
 * format is a flat list of NUL-terminated strings, alternating key and value (see
 * native/src/spec.c), so the C side never has to parse anything but strlen.
 */
import { readFileSync } from 'node:fs';
import { SANDBOX_NETWORK } from './network.ts';
import { overlayMountOptions } from '../layer/overlay-format.ts';
import { userNamespace } from '../sys/userns.ts';
import { cgroupRequests, hostCgroups, parentDir, type ResourceLimits } from './cgroups.ts';
import { encodeSeccomp, seccompFilter, type SeccompFilter } from './seccomp.ts';

export type RootfsSpec =
  | { kind: 'overlay'; lowerDirs: string[]; upperDir: string; workDir: string }
  | { kind: 'dir'; path: string; readonly?: boolean };

/**
 * Mounts inside the container. `subpath` (bind, overlay) picks what to mount from the tree, resolved
 * by the helper as if the tree's root were `/`, so symlinks in a context or stage never lead out.
 * An overlay without `upperDir` is read-only and needs two lower dirs (the kernel's rule); with
 * `upperDir`/`workDir` its writes land there and the caller throws them away. A `file` mount is a
 * file of the given bytes that exists only in the container's mount namespace (secrets).
 * Mount points the runtime has to create are removed again afterwards, except directories of a
 * mount with `keepStubDirs` (an empty file stub always goes).
 */
interface MountPoint {
  target: string;
  keepStubDirs?: boolean;
}

export type MountSpec = MountPoint & (
  | { kind: 'bind'; source: string; readonly: boolean; subpath?: string }
  | { kind: 'overlay'; lowerDirs: string[]; readonly: boolean; upperDir?: string; workDir?: string; subpath?: string }
  | { kind: 'tmpfs'; size?: number }
  | { kind: 'file'; content: Buffer; mode: number; uid: number; gid: number });

/** A lock file the helper flock(2)s before the container starts and holds until it is gone. */
export interface LockSpec {
  path: string;
  shared: boolean;
}

export interface ContainerSpec {
  rootfs: RootfsSpec;
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  groups: number[];
  hostname: string;
  /**
   * `sandbox`: a network namespace of its own with outbound access through user-mode networking
   * (src/exec/network.ts); `none`: only a loopback interface; `host`: the host's network.
   */
  network: 'none' | 'host' | 'sandbox';
  mounts?: MountSpec[];
  /** Contents of /etc/hosts and /etc/resolv.conf; sensible defaults when absent. */
  hosts?: string;
  resolvConf?: string;
  stdin?: 'null' | 'inherit';
  /**
   * Every capability, no masked or read-only kernel paths, writable /sys, no seccomp filter, device
   * nodes usable (no nodev, no device cgroup): RUN --security=insecure.
   */
  privileged?: boolean;
  /** Taken in order; give them sorted and without duplicates so that two runs never deadlock. */
  locks?: LockSpec[];
  /** /dev/shm's size in bytes (default 64 MiB, as Docker). */
  shmSize?: number;
  /** `--cgroup-parent` and the memory and cpu limits: cgroups the container joins (cgroups.ts). */
  resources?: ResourceLimits;
  /** Resource limits (`--ulimit`), `-1` unlimited. */
  ulimits?: ReadonlyArray<{ name: string; soft: number; hard: number }>;
  /**
   * A build's RUN, as BuildKit runs one: no /etc/hostname file (the uts name only), and the empty
   * /dev, /proc and /sys made for an image without them stay in the layer (Docker 20.10 and 26).
   */
  buildStep?: boolean;
}

/**
 * Docker's default capability set (moby's oci/caps defaults), by number from
 * linux/capability.h. Bitmask 0x00000000a80425fb.
 */
export const DEFAULT_CAPABILITIES: Readonly<Record<string, number>> = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_RAW: 13,
  CAP_SYS_CHROOT: 18,
  CAP_MKNOD: 27,
  CAP_AUDIT_WRITE: 29,
  CAP_SETFCAP: 31,
};

/** Parent of the per-container device cgroups, below the helper's own devices cgroup (cgroup v1). */
export const DEVICE_CGROUP_ROOT = 'berth';

/** The device cgroup's parent: a name below berth's own, or --cgroup-parent's directory there. */
function deviceCgroupParent(cgroupParent: string | undefined): string {
  if (cgroupParent === undefined) return DEVICE_CGROUP_ROOT;
  const devices = hostCgroups().hierarchies.find((h) => h.controllers.includes('devices'));
  return (devices && parentDir(devices, cgroupParent)) ?? DEVICE_CGROUP_ROOT;
}

/** Kernel interfaces docker hides from containers (/dev/null or an empty tmpfs over them). */
export const MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

/**
 * Devices a container may use, in the device cgroup's (v1) syntax: docker's defaults. Creating any
 * node stays allowed (`m`), opening only these: null, zero, full, random, urandom, tty, console,
 * ptmx and the ptys.
 */
export const ALLOWED_DEVICES: readonly string[] = [
  'c *:* m', 'b *:* m',
  'c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm',
  'c 5:0 rwm', 'c 5:1 rwm', 'c 5:2 rwm', 'c 136:* rwm',
];

/** Kernel interfaces docker makes read-only. */
export const READONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];


/** Mode of RUN --mount=type=tmpfs mounts, as docker's --tmpfs. */
const TMPFS_MODE = '1777';

/** Public resolvers BuildKit falls back to when the host only has a local stub resolver. */
const FALLBACK_NAMESERVERS = ['8.8.8.8', '8.8.4.4', '2001:4860:4860::8888', '2001:4860:4860::8844'];

export function defaultHosts(hostname: string, extraHosts: ReadonlyArray<{ host: string; ip: string }> = []): string {
  const names = hostname && hostname !== 'localhost' ? `localhost ${hostname}` : 'localhost';
  // `--add-host` entries come after the defaults, one line each, as BuildKit writes them.
  const extra = extraHosts.map((h) => `${h.ip}\t${h.host}\n`).join('');
  return `127.0.0.1\t${names}\n::1\tlocalhost ip6-localhost ip6-loopback\n${extra}`;
}

/**
 * resolv.conf for a container. With the host network the host's file works as is; in a network
 * namespace a loopback nameserver (systemd-resolved's 127.0.0.53, dnsmasq) points at nothing, so
 * those lines go. With no nameserver left, the sandbox network uses the DNS forwarder of its
 * user-mode stack (which asks the host's resolvers, loopback ones included), and otherwise the
 * public fallbacks are used, as BuildKit does.
 */
export function containerResolvConf(hostResolvConf: string, network: ContainerSpec['network']): string {
  if (network === 'host') return hostResolvConf;
  const lines = hostResolvConf.split('\n');
  const kept = lines.filter((line) => {
    const match = /^\s*nameserver\s+(\S+)/.exec(line);
    return !match || !isLoopback(match[1]);
  });
  const hasNameserver = kept.some((line) => /^\s*nameserver\s+\S+/.test(line));
  let text = kept.join('\n').replace(/\n*$/, '\n');
  if (text.trim() === '') text = '';
  const fallbacks = network === 'sandbox' ? [SANDBOX_NETWORK.dns] : FALLBACK_NAMESERVERS;
  if (!hasNameserver) text += fallbacks.map((ns) => `nameserver ${ns}\n`).join('');
  return text;
}

function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === '::1' || address === '0:0:0:0:0:0:0:1';
}

export function hostResolvConf(): string {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return '';
  }
}

/** Checks that are cheaper and clearer here than as an exit code 125 from the helper. */
export function validateSpec(spec: ContainerSpec): void {
  if (spec.args.length === 0) throw new Error('container spec: no command to run');
  if (!spec.cwd.startsWith('/')) throw new Error(`container spec: working directory ${spec.cwd} is not absolute`);
  for (const id of [spec.uid, spec.gid, ...spec.groups]) {
    if (!Number.isInteger(id) || id < 0 || id > 0xfffffffe) throw new Error(`container spec: bad numeric id ${id}`);
  }
  if (spec.rootfs.kind === 'overlay' && spec.rootfs.lowerDirs.length === 0) {
    throw new Error('container spec: an overlay rootfs needs at least one lower dir (use an empty dir for scratch)');
  }
  for (const mount of spec.mounts ?? []) {
    if (!mount.target.startsWith('/')) throw new Error(`container spec: mount target ${mount.target} is not absolute`);
    if (mount.kind === 'overlay') {
      if (!mount.upperDir !== !mount.workDir) throw new Error(`container spec: overlay mount on ${mount.target} needs both upperDir and workDir, or neither`);
      if (!mount.upperDir && mount.lowerDirs.length < 2) throw new Error(`container spec: read-only overlay mount on ${mount.target} needs two lower dirs`);
      if (mount.lowerDirs.length === 0) throw new Error(`container spec: overlay mount on ${mount.target} has no lower dir`);
      if (mount.upperDir && mount.readonly) throw new Error(`container spec: overlay mount on ${mount.target} has an upper dir but is read-only`);
    }
  }
  const locks = (spec.locks ?? []).map((l) => l.path);
  if (new Set(locks).size !== locks.length) throw new Error('container spec: a lock file is listed twice (the helper would wait for itself)');
}

function encodeMount(mount: MountSpec, add: (key: string, value: string | number) => void): void {
  add('mount', mount.kind);
  add('dst', mount.target);
  if (mount.keepStubDirs) add('keepdirs', 1);
  switch (mount.kind) {
    case 'bind':
      add('src', mount.source);
      add('ro', mount.readonly ? 1 : 0);
      if (mount.subpath) add('subpath', mount.subpath);
      break;
    case 'overlay':
      for (const dir of mount.lowerDirs) add('mlower', dir);
      if (mount.upperDir) {
        add('mupper', mount.upperDir);
        add('mwork', mount.workDir!);
      }
      add('ro', mount.readonly ? 1 : 0);
      if (mount.subpath) add('subpath', mount.subpath);
      break;
    case 'tmpfs':
      add('data', mount.size === undefined ? `mode=${TMPFS_MODE}` : `size=${mount.size},mode=${TMPFS_MODE}`);
      break;
    case 'file':
      add('ro', 1);
      add('content', mount.content.toString('hex'));
      add('fmode', mount.mode);
      add('fuid', mount.uid);
      add('fgid', mount.gid);
      break;
  }
}

let cachedFilter: SeccompFilter | undefined;

/** Docker's default profile for docker's default capabilities: the same for every container. */
function defaultFilter(): SeccompFilter {
  cachedFilter ??= seccompFilter(Object.keys(DEFAULT_CAPABILITIES));
  return cachedFilter;
}

/** What `berth-sandbox --compile-seccomp` reads on stdin: the default filter's rules. */
export function seccompCompileRequest(): Buffer {
  const pairs: Buffer[] = [];
  encodeSeccomp(defaultFilter(), (key, value) => pairs.push(Buffer.from(`${key}\0${value}\0`, 'utf8')));
  return Buffer.concat(pairs);
}

/**
 * The helper's wire format for `spec`; `nodePid` lets it notice Node dying before it starts.
 * `seccompProgram` is the filter the helper compiled from seccompCompileRequest(); without it the
 * rules themselves are sent and the helper builds the program for this one run.
 */
export function encodeSpec(spec: ContainerSpec, nodePid: number = process.pid, seccompProgram?: Buffer): Buffer {
  validateSpec(spec);
  const pairs: Array<[string, string]> = [['ppid', String(nodePid)]];
  const add = (key: string, value: string | number): void => {
    pairs.push([key, String(value)]);
  };

  const { rootfs } = spec;
  if (rootfs.kind === 'overlay') {
    add('rootfs', 'overlay');
    for (const option of overlayMountOptions()) add('ovlopt', option);
    for (const dir of rootfs.lowerDirs) add('lower', dir);
    add('upper', rootfs.upperDir);
    add('work', rootfs.workDir);
  } else {
    add('rootfs', 'dir');
    add('path', rootfs.path);
    add('readonly', rootfs.readonly ? 1 : 0);
  }

  for (const arg of spec.args) add('arg', arg);
  for (const entry of spec.env) add('env', entry);
  add('cwd', spec.cwd);
  add('uid', spec.uid);
  add('gid', spec.gid);
  for (const group of spec.groups) add('group', group);
  // An empty hostname keeps the one the new uts namespace inherited.
  if (spec.hostname) add('hostname', spec.hostname);
  if (spec.buildStep) add('buildstep', 1);
  add('net', spec.network);
  add('hosts', spec.hosts ?? defaultHosts(spec.hostname));
  add('resolv', spec.resolvConf ?? containerResolvConf(hostResolvConf(), spec.network));
  // Rootless: the helper binds the host's device nodes (no mknod) and mounts in the namespace's way.
  if (userNamespace().rootless) add('userns', 1);
  // Overlays through mount(2), as berth mounts them on kernels before 6.8 (to test that way here).
  if (process.env.BERTH_OVERLAY_LEGACY === '1') add('ovllegacy', 1);
  if (spec.shmSize !== undefined) add('shmsize', spec.shmSize);
  // RLIM_INFINITY is the all-ones 64-bit value; the helper reads both limits as unsigned.
  const limit = (n: number): string => (n < 0 ? '18446744073709551615' : String(n));
  for (const u of spec.ulimits ?? []) add('rlimit', `${u.name}=${limit(u.soft)}:${limit(u.hard)}`);
  if (spec.privileged) {
    add('privileged', 1);
  } else {
    for (const cap of Object.values(DEFAULT_CAPABILITIES)) add('cap', cap);
    for (const path of MASKED_PATHS) add('mask', path);
    for (const path of READONLY_PATHS) add('ropath', path);
    // No device node opens but the ones /dev gets from the helper, on any host...
    add('nodev', 1);
    // ...and, where the host has a v1 device cgroup, only docker's default devices at all. A user
    // namespace owns no cgroup, and needs none: the kernel opens no device node it mounted.
    if (!userNamespace().rootless) {
      add('devcgroup', deviceCgroupParent(spec.resources?.cgroupParent));
      for (const rule of ALLOWED_DEVICES) add('devallow', rule);
    }
    if (seccompProgram) {
      add('seccomp', defaultFilter().defaultErrno);
      add('scprog', seccompProgram.toString('hex'));
    } else {
      encodeSeccomp(defaultFilter(), add);
    }
  }
  for (const lock of spec.locks ?? []) add(lock.shared ? 'lockshared' : 'lock', lock.path);
  if (spec.resources) {
    // The device cgroup (when made) is the devices hierarchy's; every other one is made here.
    const skip = spec.privileged || userNamespace().rootless ? [] : ['devices'];
    for (const request of cgroupRequests(spec.resources, hostCgroups(), skip)) {
      add('cgroup', request.parent);
      for (const [file, value] of request.settings) add('cgset', `${file}=${value}`);
    }
  }

  for (const mount of spec.mounts ?? []) encodeMount(mount, add);

  const chunks: Buffer[] = [];
  for (const [key, value] of pairs) {
    if (value.includes('\0')) throw new Error(`container spec: ${key} contains a NUL byte`);
    chunks.push(Buffer.from(`${key}\0${value}\0`, 'utf8'));
  }
  return Buffer.concat(chunks);
}

/** The inverse of encodeSpec's framing, for tests and debugging. */
export function decodePairs(payload: Buffer): Array<[string, string]> {
  const parts = payload.toString('utf8').split('\0');
  if (parts.pop() !== '') throw new Error('spec does not end in NUL');
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i + 1 < parts.length; i += 2) pairs.push([parts[i], parts[i + 1]]);
  return pairs;
}
