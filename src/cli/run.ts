import path from 'node:path';
import type { Command } from 'commander';
import { BuildError } from '../source/index.ts';
import type { MountSpec } from '../exec/index.ts';
import { defaultHosts } from '../exec/spec.ts';
import { addResourceOptions, resourceLimits, runSandboxOptions, type ResourceFlags } from './sandbox-flags.ts';
import { parseNetworkMode } from '../exec/network.ts';
import { loadBaseImage } from '../engine/images.ts';
import { openSnapshotter, type ActiveSnapshot, type Snapshotter } from '../snapshot/snapshotter.ts';
import { UserLookupError } from '../container/users.ts';
import { openWorkingContainer, runWorkingContainer, type ProcessRequest, type WorkingContainer } from '../container/working.ts';
import { collect, withLockedStores, type Stores } from './store.ts';

interface RunFlags extends ResourceFlags {
  rm?: boolean; env: string[]; volume: string[]; network: string; workdir?: string; user?: string;
  entrypoint?: string; hostname?: string; interactive?: boolean;
  addHost: string[]; shmSize?: string; ulimit: string[];
}

function parseVolume(spec: string): MountSpec {
  const [source, target, mode] = spec.split(':');
  if (!source || !target || !path.isAbsolute(source) || !target.startsWith('/')) {
    throw new BuildError(`invalid volume "${spec}": use /host/path:/container/path[:ro]`);
  }
  return { kind: 'bind', source, target, readonly: mode === 'ro' };
}

/** `docker run`: the image's config (entrypoint, cmd, env, user, workdir) with the flags on top. */
async function runImage(image: string, args: string[], flags: RunFlags, command: Command): Promise<void> {
  // The container's layers must outlive it: prune waits until it is done.
  await withLockedStores(command, 'use', async (stores) => {
    const snapshots = openSnapshotter(stores.layout, stores.content);
    try {
      await runLocked(stores, snapshots, image, args, flags);
    } finally {
      snapshots.release();
    }
  });
}

function environmentOf(config: { Env?: string[] }, flags: RunFlags): string[] {
  const env = new Map((config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=') < 0 ? e.length : e.indexOf('=')), e]));
  for (const e of flags.env) {
    const eq = e.indexOf('=');
    if (eq >= 0) env.set(e.slice(0, eq), e);
    else if (process.env[e] !== undefined) env.set(e, `${e}=${process.env[e]}`);
  }
  return [...env.values()];
}

function openContainer(snapshot: ActiveSnapshot, request: ProcessRequest): WorkingContainer {
  try {
    return openWorkingContainer(snapshot, request);
  } catch (error) {
    if (error instanceof UserLookupError) throw new BuildError(error.message);
    throw error;
  }
}

async function runLocked(stores: Stores, snapshots: Snapshotter, image: string, args: string[], flags: RunFlags): Promise<void> {
  const base = await loadBaseImage(stores.images, image, undefined);
  const config = base.config;
  const entrypoint = flags.entrypoint !== undefined ? (flags.entrypoint ? [flags.entrypoint] : []) : (config.Entrypoint ?? []);
  const cmd = args.length ? args : flags.entrypoint !== undefined ? [] : (config.Cmd ?? []);
  const argv = [...entrypoint, ...cmd];
  if (argv.length === 0) throw new BuildError(`no command specified for ${image}`);
  const network = parseNetworkMode(flags.network);
  if (!network) throw new BuildError(`unsupported --network "${flags.network}" (default, none or host)`);
  const limits = runSandboxOptions(flags);
  const resources = resourceLimits(flags);
  const hostname = flags.hostname ?? 'berth';
  const snapshot = await snapshots.prepare(base.chain, 'run');
  const abort = new AbortController();
  const forward = () => abort.abort(new BuildError('interrupted'));
  process.once('SIGINT', forward);
  process.once('SIGTERM', forward);
  try {
    const container = openContainer(snapshot, {
      user: flags.user ?? config.User ?? '', cwd: flags.workdir ?? (config.WorkingDir || '/'), env: environmentOf(config, flags),
    });
    const result = await runWorkingContainer(container, {
      args: argv, hostname, network, mounts: flags.volume.map(parseVolume), stdin: flags.interactive ? 'inherit' : 'null',
      hosts: defaultHosts(hostname, limits?.extraHosts), shmSize: limits?.shmSize, ulimits: limits?.ulimits, resources,
    }, {
      onStdout: (chunk) => process.stdout.write(chunk),
      onStderr: (chunk) => process.stderr.write(chunk),
      signal: abort.signal,
    });
    process.exitCode = result.exitCode;
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    // berth keeps no container records: every run is --rm.
    snapshots.remove(snapshot);
  }
}

export function register(program: Command): void {
  const run = program.command('run').description('run a command in a new container from an image')
    .argument('<image>').argument('[command...]')
    .option('--rm', 'remove the container when it exits (always the case: berth keeps no containers)')
    .option('-e, --env <K=V>', 'set an environment variable', collect, [])
    .option('-v, --volume <host:ctr[:ro]>', 'bind mount a host path', collect, [])
    .option('--network <mode>', 'default (own network namespace, outbound access), none or host', 'default')
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user>', 'user[:group] to run as')
    .option('--entrypoint <cmd>', 'override the image entrypoint')
    .option('--hostname <name>', 'container host name')
    .option('-i, --interactive', 'keep stdin open')
    .option('--add-host <name:ip>', 'an /etc/hosts entry', collect, [])
    .option('--shm-size <size>', 'size of /dev/shm (default 64m)')
    .option('--ulimit <name=soft[:hard]>', 'a resource limit (nofile, nproc, ...)', collect, []);
  addResourceOptions(run, 'the container')
    .passThroughOptions()
    .action((image: string, args: string[], flags: RunFlags, command: Command) => runImage(image, args, flags, command));
}
