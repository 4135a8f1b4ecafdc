/**
 * The sandbox network: a container's own network namespace, linked to the outside world by
 * user-mode networking (slirp4netns), the way rootless BuildKit and Podman do it.
 *
 * Why user-mode networking rather than the host's network or a bridge: a RUN step of someone
 * else's Dockerfile must not reach what listens on the host's loopback (127.0.0.1 services,
 * abstract unix sockets, which belong to a network namespace) nor see the host's traffic
 * (AF_PACKET with CAP_NET_RAW), and berth has no daemon to own a bridge, iptables rules or
 * addresses. slirp4netns turns the container's packets into ordinary sockets of its own process,
 * so outbound TCP/UDP and DNS work, while `--disable-host-loopback` refuses connections to the
 * gateway address that would otherwise lead to the host's 127.0.0.1. It needs no privilege, so
 * the same code serves rootless berth.
 *
 * Lifetime: slirp4netns gets `--exit-fd`, one end of a socket pair whose other end only this
 * process holds. Closing it (after the container ends) or this process dying for any reason
 * closes it, and slirp4netns exits: it can never outlive the build.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { findExecutable } from '../sys/process.ts';
import type { Readable, Writable } from 'node:stream';

/** The addresses slirp4netns gives the namespace (its defaults, stated so resolv.conf can use them). */
export const SANDBOX_NETWORK = {
  cidr: '10.0.2.0/24',
  gateway: '10.0.2.2',
  dns: '10.0.2.3',
  address: '10.0.2.100',
  device: 'eth0',
  /** Large MTU: fewer, bigger packets through the user-mode stack (slirp4netns's own advice). */
  mtu: 65520,
} as const;

const READY_TIMEOUT_MS = 10_000;

/**
 * A `--network` value: `default` (and Docker's `bridge`) is the sandbox network, a namespace of
 * the container's own with outbound access; undefined for anything else.
 */
export function parseNetworkMode(value: string): 'sandbox' | 'none' | 'host' | undefined {
  if (value === 'default' || value === 'sandbox' || value === 'bridge') return 'sandbox';
  if (value === 'none' || value === 'host') return value;
  return undefined;
}

export interface SandboxNetwork {
  /** Ends user-mode networking and waits until its process is gone. */
  close(): Promise<void>;
}

export class NetworkSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NetworkSetupError';
  }
}

/** The slirp4netns executable on PATH (or the usual system places), or undefined. */
export function findSlirp4netns(envPath?: string): string | undefined {
  return findExecutable('slirp4netns', envPath);
}

/**
 * slirp4netns's own sandbox (a mount namespace with nothing in it) cannot be made everywhere: in
 * an unprivileged container it fails ("create_sandbox failed"). Then, once per process, berth goes
 * on without it (the seccomp filter of slirp4netns stays) and says so.
 */
let slirpSandbox = true;

/** slirp4netns's path once found (undefined: not installed); null until looked up. */
let slirpBinary: string | undefined | null = null;

function slirpArgs(initPid: number): string[] {
  return [
    '--configure',
    `--mtu=${SANDBOX_NETWORK.mtu}`,
    `--cidr=${SANDBOX_NETWORK.cidr}`,
    // The gateway address must not be a way into the host's loopback services.
    '--disable-host-loopback',
    // slirp4netns confines itself too: its own mount namespace and a seccomp filter.
    ...(slirpSandbox ? ['--enable-sandbox'] : []),
    '--enable-seccomp',
    '--ready-fd=3',
    '--exit-fd=4',
    String(initPid),
    SANDBOX_NETWORK.device,
  ];
}

/** Resolves when slirp4netns writes to its ready fd; rejects when it exits first or hangs. */
function waitReady(child: ChildProcess, stderr: () => string): Promise<void> {
  const ready = child.stdio[3] as Readable;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new NetworkSetupError('slirp4netns did not get ready in time')), READY_TIMEOUT_MS);
    const finish = (error?: Error): void => {
      clearTimeout(timer);
      ready.removeAllListeners('data');
      child.removeListener('exit', onExit);
      child.removeListener('error', onError);
      if (error) reject(error);
      else resolve();
    };
    const onExit = (code: number | null, signal: string | null): void => {
      const why = stderr().trim().split('\n').filter((line) => !/^(WARNING|sent|received|Starting)/.test(line)).join('; ');
      finish(new NetworkSetupError(`slirp4netns exited (${signal ?? `code ${code}`}) before the network was up${why ? `: ${why}` : ''}`));
    };
    const onError = (error: Error): void => finish(new NetworkSetupError(`starting slirp4netns: ${error.message}`));
    ready.once('data', () => finish());
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

/**
 * Links the network namespace of process `initPid` (the container's init, as the host sees it)
 * to the outside. Resolves once the interface, address, route and DNS forwarder are up.
 */
export async function startSandboxNetwork(initPid: number, onWarning?: (message: string) => void): Promise<SandboxNetwork> {
  // Looked up once per berth process, not on every RUN step.
  if (slirpBinary === null) slirpBinary = findSlirp4netns();
  const binary = slirpBinary;
  if (!binary) {
    throw new NetworkSetupError('the default network needs slirp4netns (Debian: apt-get install slirp4netns); or build with --network none');
  }
  try {
    return await startSlirp(binary, initPid);
  } catch (error) {
    if (!slirpSandbox || !/create_sandbox failed/.test((error as Error).message)) throw error;
    slirpSandbox = false;
    onWarning?.('slirp4netns cannot make its own sandbox here (no mount namespace for it); running it with its seccomp filter only');
    return startSlirp(binary, initPid);
  }
}

async function startSlirp(binary: string, initPid: number): Promise<SandboxNetwork> {
  const child = spawn(binary, slirpArgs(initPid), {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
    env: {},
    // Not in berth's process group: a terminal's Ctrl-C reaches berth, which then ends it.
    detached: true,
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    if (stderr.length < 16_384) stderr += text;
  });
  const exitPipe = child.stdio[4] as Writable & Readable;
  exitPipe.on('error', () => {});
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('close', () => resolve());
  });
  const close = async (): Promise<void> => {
    exitPipe.destroy();
    const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitReady(child, () => stderr);
  } catch (error) {
    child.kill('SIGKILL');
    await close();
    throw error;
  }
  (child.stdio[3] as Readable).destroy();
  return { close };
}
