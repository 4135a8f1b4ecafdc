/**
 * Running one container through native/build/berth-sandbox.
 *
 * The helper gets the spec on fd 3 and reports on fd 4, one line each: `pid N` (the container's
 * init, as seen from the host), then `exit N` or `killed SIG` for the command, or `error MESSAGE`
 * when setting the container up failed (exit code 125), plus `warning MESSAGE` for things it
 * could not do but could run without. The command's stdout and stderr are the helper's own, so
 * they stream straight to the callbacks.
 *
 * Killing: SIGKILL to the helper makes the kernel kill the init (PR_SET_PDEATHSIG), and the death
 * of a pid namespace's init kills every process in it; the mount namespace, and with it every
 * mount, dies with the last of them. We wait until the init is gone before settling.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { processState } from '../sys/process.ts';
import { startSandboxNetwork, type SandboxNetwork } from './network.ts';
import { encodeSpec, seccompCompileRequest, type ContainerSpec } from './spec.ts';
import { nativeFile } from '../sys/native-files.ts';

export interface ContainerIO {
  onStdout(chunk: Buffer): void;
  onStderr(chunk: Buffer): void;
  /** Aborting kills the container; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Messages about optional setup steps the helper skipped (e.g. no sysfs). */
  onWarning?(message: string): void;
}

export interface ContainerResult {
  /** The command's exit code, or 128 + signal number when a signal killed it (as a shell says). */
  exitCode: number;
  /** Name of the signal that killed the command, e.g. 'SIGKILL'. */
  signal?: string;
}

/** The container could not be set up (not the command's failure): a bug or a host problem. */
export class ContainerSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ContainerSetupError';
  }
}

const SETUP_FAILED = 125;

/** Path of the native helper; throws with the fix when it has not been built. */
export function sandboxPath(): string {
  const path = nativeFile('berth-sandbox');
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`the sandbox helper ${path} is not built; run \`npm install\` or \`make -C native\` (needs gcc)`);
  }
  return path;
}

const compiled = new Map<string, Promise<Buffer>>();

/**
 * The seccomp program for every non-privileged container, compiled by the helper once per process
 * (libseccomp takes about 10 ms for it, which every RUN would pay again).
 */
function seccompProgram(helper: string): Promise<Buffer> {
  let program = compiled.get(helper);
  if (!program) {
    program = new Promise<Buffer>((resolve, reject) => {
      const child = spawn(helper, ['--compile-seccomp'], { stdio: ['pipe', 'pipe', 'pipe'], env: {} });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
      child.once('error', reject);
      child.once('close', (code) => {
        if (code === 0 && out.length > 0) resolve(Buffer.concat(out));
        else reject(new ContainerSetupError(`compiling the seccomp filter failed: ${Buffer.concat(err).toString().trim() || `exit ${code}`}`));
      });
      child.stdin.end(seccompCompileRequest());
    });
    // A failure is reported to this run and tried again by the next one.
    program.catch(() => compiled.delete(helper));
    compiled.set(helper, program);
  }
  return program;
}

function signalName(signo: number): string {
  for (const [name, value] of Object.entries(osConstants.signals)) if (value === signo) return name;
  return `SIG${signo}`;
}

interface Status {
  initPid?: number;
  /** The init has its network namespace and waits for the outside link (sandbox network). */
  netnsReady?: boolean;
  exitCode?: number;
  signal?: number;
  errors: string[];
}

/** Feeds status lines from the helper into `status` as they arrive. */
function readStatus(stream: Readable, status: Status, onChange: () => void, onWarning?: (message: string) => void): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    pending += text;
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      const space = line.indexOf(' ');
      const word = space < 0 ? line : line.slice(0, space);
      const rest = space < 0 ? '' : line.slice(space + 1);
      if (word === 'pid') status.initPid = Number(rest);
      else if (word === 'exit') status.exitCode = Number(rest);
      else if (word === 'killed') status.signal = Number(rest);
      else if (word === 'error') status.errors.push(rest);
      else if (word === 'warning') onWarning?.(rest);
      else if (word === 'netns') status.netnsReady = true;
      onChange();
    }
  });
}

/**
 * The helper exits only after its init, but when the helper itself is SIGKILLed the init dies a
 * moment later, asynchronously. A pid namespace's init turns into a zombie only after every
 * other process of the namespace is gone, so "gone or zombie" means the container is gone.
 */
async function waitUntilGone(pid: number | undefined, timeoutMs = 10_000): Promise<void> {
  if (pid === undefined || !(pid > 0)) return;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = processState(pid);
    if (state === undefined || state === 'Z' || state === 'X') return;
    if (Date.now() > deadline) throw new Error(`container init ${pid} did not exit after being killed`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The container run was aborted', 'AbortError');
}

/**
 * For the sandbox network: once the init has its namespace and we know its pid (two status lines,
 * in either order), link the namespace to the outside and tell the init to go on. A failure kills
 * the helper before the command ever ran; `failure()` then says why.
 */
/** How long a helper whose network failed may take to exit with its own reason before it is killed. */
const NETWORK_FAILURE_GRACE_MS = 1000;

function sandboxNetworkFor(child: ChildProcess, status: Status, statusPipe: Writable, onWarning?: (message: string) => void) {
  let started: Promise<SandboxNetwork | undefined> | undefined;
  let error: Error | undefined;
  return {
    onStatus(): void {
      if (started || !status.netnsReady || status.initPid === undefined) return;
      started = startSandboxNetwork(status.initPid, onWarning).then((network) => {
        statusPipe.write('go\n');
        return network;
      }, (cause: Error) => {
        error = cause;
        // The init failing its own setup is usually why slirp4netns found no namespace; the
        // helper then exits by itself with the real reason (a /proc it could not mount, say),
        // which must not be lost to a kill. A healthy init waiting for "go" is stopped after a
        // moment: this is the error path only.
        if (child.exitCode === null && child.signalCode === null) {
          const stop = setTimeout(() => child.kill('SIGKILL'), NETWORK_FAILURE_GRACE_MS);
          child.once('close', () => clearTimeout(stop));
        }
        return undefined;
      });
    },
    failure: (): Error | undefined => error,
    async close(): Promise<void> {
      const network = await started;
      await network?.close();
    },
  };
}

/** Run `spec` to completion, streaming its output. Resolves with the command's exit status. */
export async function runContainer(spec: ContainerSpec, io: ContainerIO): Promise<ContainerResult> {
  const helper = sandboxPath();
  const payload = encodeSpec(spec, process.pid, spec.privileged ? undefined : await seccompProgram(helper));
  if (io.signal?.aborted) throw abortReason(io.signal);

  const child: ChildProcess = spawn(helper, [], {
    stdio: [spec.stdin === 'inherit' ? 'inherit' : 'ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
    env: {},
    // The init shows up as PID 1 inside the container: do not show it the host path.
    argv0: 'berth-sandbox',
    // Its own session: a terminal's Ctrl-C goes to berth, which decides to abort, instead of
    // reaching the container's processes directly as well as through PID 1's forwarding.
    detached: true,
  });
  const status: Status = { errors: [] };
  const specPipe = child.stdio[3] as Writable & Readable;
  const statusPipe = child.stdio[4] as Readable & Writable;
  child.stdout?.on('data', (chunk: Buffer) => io.onStdout(chunk));
  child.stderr?.on('data', (chunk: Buffer) => io.onStderr(chunk));
  statusPipe.on('error', () => {});
  const network = spec.network === 'sandbox' ? sandboxNetworkFor(child, status, statusPipe, io.onWarning) : undefined;
  readStatus(statusPipe, status, () => network?.onStatus(), io.onWarning);
  // fd 3 is a socket: drain its (empty) read side so 'close' can fire; the helper closing it
  // early (setup failed before reading) must not become an unhandled EPIPE.
  specPipe.on('error', () => {});
  specPipe.resume();
  specPipe.end(payload);

  let aborted = false;
  const onAbort = (): void => {
    aborted = true;
    child.kill('SIGKILL');
  };
  io.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    const [code, killedBy] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (exitCode, signal) => resolve([exitCode, signal]));
    });
    if (killedBy !== null) await waitUntilGone(status.initPid);
    if (aborted && io.signal) throw abortReason(io.signal);
    // The init's own failure comes first: it may be why the network found no namespace to join.
    if (status.errors.length > 0 && (code === SETUP_FAILED || status.exitCode === SETUP_FAILED)) {
      throw new ContainerSetupError(`container setup failed: ${status.errors.join('; ')}`);
    }
    const networkError = network?.failure();
    if (networkError) throw new ContainerSetupError(`container setup failed: ${networkError.message}`);
    if (status.signal !== undefined) return { exitCode: 128 + status.signal, signal: signalName(status.signal) };
    if (status.exitCode !== undefined) return { exitCode: status.exitCode };
    if (killedBy !== null) {
      const signo = osConstants.signals[killedBy] ?? 0;
      return { exitCode: 128 + signo, signal: killedBy };
    }
    if (code === SETUP_FAILED) throw new ContainerSetupError('container setup failed (no message from the sandbox helper)');
    // The init was killed from outside (the helper reports 128 + signal for that).
    if (code !== null && code > 128) return { exitCode: code, signal: signalName(code - 128) };
    return { exitCode: code ?? 1 };
  } finally {
    io.signal?.removeEventListener('abort', onAbort);
    await network?.close();
  }
}
