/**
 * SSH agent forwarding for `RUN --mount=type=ssh`, as buildx's `--ssh` gives it: `default` is the
 * caller's $SSH_AUTH_SOCK, `ID=SOCKET` another agent, `ID=KEY[,KEY]` an agent berth starts with
 * those keys (ssh-agent and ssh-add from openssh-client) and stops when the build ends.
 *
 * The step never sees the agent's own socket: each mount is a socket of its own in the step's
 * temp dir, owned and moded as the mount asks (default root, 0600, as BuildKit), whose
 * connections berth relays to the agent. So a container user other than root can use it, and the
 * socket path, the keys and their bytes never reach a layer, the cache key (only the id does) or
 * the history; the mount point the runtime made is removed after the step.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { BuildError } from '../source/index.ts';
import { sandboxPath } from '../exec/index.ts';
import { writerName } from '../store/sweep.ts';
import { execFileText, findExecutable } from '../sys/process.ts';


export interface SshAgents {
  /** The agent socket for an id, if the build was given one. */
  socketOf(id: string): string | undefined;
  /** Stops the agents berth started. */
  close(): void;
}

export interface SshSpec { id: string; paths: string[] }

/** One `--ssh` value: `default`, `ID`, `ID=SOCKET` or `ID=KEY[,KEY...]`. */
export function parseSshFlag(text: string): SshSpec {
  const eq = text.indexOf('=');
  const id = eq < 0 ? text : text.slice(0, eq);
  if (!/^[A-Za-z0-9._-]+$/.test(id)) throw new BuildError(`invalid --ssh "${text}": use default, ID, ID=SOCKET or ID=KEY[,KEY]`);
  const paths = eq < 0 ? [] : text.slice(eq + 1).split(',').filter(Boolean);
  return { id, paths };
}

/**
 * An ssh-agent holding `keys`, its socket in a scratch dir named after this berth (so a killed
 * build's is swept, src/store/sweep.ts) and the agent itself dying with berth (the helper's
 * --pdeathsig-exec), however berth ends.
 */
async function startAgent(id: string, keys: string[], scratch: string): Promise<{ socket: string; agent: ChildProcess; dir: string }> {
  const program = findExecutable('ssh-agent');
  if (!program) throw new BuildError(`--ssh ${id}: ssh-agent is not installed (apt-get install openssh-client)`);
  mkdirSync(scratch, { recursive: true });
  const dir = path.join(scratch, writerName('ssh'));
  mkdirSync(dir, { mode: 0o700 });
  const socket = path.join(dir, 'agent.sock');
  const helper = sandboxPath();
  const agent = existsSync(helper)
    ? spawn(helper, ['--pdeathsig-exec', program, '-D', '-a', socket], { stdio: 'ignore' })
    : spawn(program, ['-D', '-a', socket], { stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    const poll = setInterval(() => {
      if (!existsSync(socket)) return;
      clearInterval(poll);
      resolve();
    }, 10);
    const failed = (why: string) => {
      clearInterval(poll);
      reject(new BuildError(`--ssh ${id}: ssh-agent ${why}`));
    };
    agent.once('error', (error) => failed(`could not start: ${error.message}`));
    agent.once('exit', (code) => failed(`exited (${code}) before it listened`));
  });
  try {
    await execFileText('ssh-add', ['-q', ...keys], { env: { ...process.env, SSH_AUTH_SOCK: socket, SSH_ASKPASS: '/bin/false', DISPLAY: '' } });
  } catch (error) {
    agent.kill();
    rmSync(dir, { recursive: true, force: true });
    const detail = String((error as { stderr?: string }).stderr ?? '').trim();
    throw new BuildError(`--ssh ${id}: cannot load ${keys.join(', ')}${detail ? `: ${detail}` : ''} (keys with a passphrase need an agent: --ssh ${id}=$SSH_AUTH_SOCK)`);
  }
  return { socket, agent, dir };
}

/**
 * The agents of every `--ssh` flag, started now (their sockets under `scratch`, the store's tmp
 * dir); `environment` gives `default` its socket.
 */
export async function openSshAgents(flags: readonly string[], scratch: string, environment: NodeJS.ProcessEnv = process.env): Promise<SshAgents> {
  const sockets = new Map<string, string>();
  const started: Array<{ agent: ChildProcess; dir: string }> = [];
  const close = () => {
    for (const s of started) {
      s.agent.kill();
      rmSync(s.dir, { recursive: true, force: true });
    }
  };
  try {
    for (const spec of flags.map(parseSshFlag)) {
      if (spec.paths.length === 0) {
        const socket = environment.SSH_AUTH_SOCK;
        if (!socket) throw new BuildError(`--ssh ${spec.id}: no SSH agent (SSH_AUTH_SOCK is not set); give a socket or keys: --ssh ${spec.id}=PATH`);
        sockets.set(spec.id, socket);
      } else if (spec.paths.length === 1 && statSync(spec.paths[0], { throwIfNoEntry: false })?.isSocket()) {
        sockets.set(spec.id, spec.paths[0]);
      } else {
        for (const key of spec.paths) if (!existsSync(key)) throw new BuildError(`--ssh ${spec.id}: ${key} does not exist`);
        const agent = await startAgent(spec.id, spec.paths, scratch);
        started.push(agent);
        sockets.set(spec.id, agent.socket);
      }
    }
  } catch (error) {
    close();
    throw error;
  }
  return { socketOf: (id) => sockets.get(id), close };
}

/** A socket at `file` relaying each connection to `agent`, owned and moded for the container user. */
export async function relaySocket(file: string, agent: string, owner: { uid: number; gid: number; mode: number }): Promise<{ close(): void }> {
  const connections = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(agent);
    connections.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(file, resolve));
  chownSync(file, owner.uid, owner.gid);
  chmodSync(file, owner.mode);
  return {
    close() {
      for (const c of connections) c.destroy();
      server.close();
      rmSync(file, { force: true });
    },
  };
}
