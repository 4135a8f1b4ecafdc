import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { BuildError } from '../source/index.ts';
import { runContainer, type MountSpec } from '../exec/index.ts';
import { parseNetworkMode } from '../exec/network.ts';
import { loadBaseImage } from '../engine/images.ts';
import { ensureSnapshots, lowerDirsOf, makeTempDir } from '../snapshot/snapshots.ts';
import { openLeases, type SnapshotLeases } from '../snapshot/leases.ts';
import { UserLookupError } from '../container/users.ts';
import { prepareProcess } from '../container/process.ts';
import { collect, openStores, type Stores } from './store.ts';
import { lockForBuild } from '../store/lock.ts';

interface RunFlags {
  rm?: boolean; env: string[]; volume: string[]; network: string; workdir?: string; user?: string;
  entrypoint?: string; hostname?: string; interactive?: boolean;
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
  const stores = openStores(command);
  // The container's layers must outlive it: prune waits until it is done.
  const lock = await lockForBuild(stores.layout);
  const leases = openLeases(stores.layout);
  try {
    await runLocked(stores, leases, image, args, flags);
  } finally {
    leases.release();
    lock.release();
  }
}

async function runLocked(stores: Stores, leases: SnapshotLeases, image: string, args: string[], flags: RunFlags): Promise<void> {
  const base = await loadBaseImage(stores.images, image, undefined, '');
  await ensureSnapshots(stores.layout, stores.content, base.chain, leases);
  const config = base.config;
  const entrypoint = flags.entrypoint !== undefined ? (flags.entrypoint ? [flags.entrypoint] : []) : (config.Entrypoint ?? []);
  const cmd = args.length ? args : flags.entrypoint !== undefined ? [] : (config.Cmd ?? []);
  const argv = [...entrypoint, ...cmd];
  if (argv.length === 0) throw new BuildError(`no command specified for ${image}`);
  const env = new Map((config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=') < 0 ? e.length : e.indexOf('=')), e]));
  for (const e of flags.env) {
    const eq = e.indexOf('=');
    if (eq >= 0) env.set(e.slice(0, eq), e);
    else if (process.env[e] !== undefined) env.set(e, `${e}=${process.env[e]}`);
  }
  const temp = makeTempDir(stores.layout, 'run');
  const abort = new AbortController();
  const forward = () => abort.abort(new BuildError('interrupted'));
  process.once('SIGINT', forward);
  process.once('SIGTERM', forward);
  try {
    const upperDir = path.join(temp, 'upper');
    const workDir = path.join(temp, 'work');
    const empty = path.join(temp, 'empty');
    for (const d of [upperDir, workDir, empty]) mkdirSync(d);
    const lowerDirs = base.chain.length ? lowerDirsOf(stores.layout, base.chain, leases) : [empty];
    const view = { layers: [upperDir, ...lowerDirs] };
    let proc;
    try {
      proc = prepareProcess(view, { user: flags.user ?? config.User ?? '', cwd: flags.workdir ?? (config.WorkingDir || '/'), env: [...env.values()] });
    } catch (error) {
      if (error instanceof UserLookupError) throw new BuildError(error.message);
      throw error;
    }
    const network = parseNetworkMode(flags.network);
    if (!network) throw new BuildError(`unsupported --network "${flags.network}" (default, none or host)`);
    const result = await runContainer({
      rootfs: { kind: 'overlay', lowerDirs, upperDir, workDir }, args: argv, env: proc.env, cwd: proc.cwd,
      uid: proc.uid, gid: proc.gid, groups: proc.groups, hostname: flags.hostname ?? 'berth', network,
      mounts: flags.volume.map(parseVolume), stdin: flags.interactive ? 'inherit' : 'null',
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
    rmSync(temp, { recursive: true, force: true });
  }
}

export function register(program: Command): void {
  program.command('run').description('run a command in a new container from an image')
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
    .passThroughOptions()
    .action((image: string, args: string[], flags: RunFlags, command: Command) => runImage(image, args, flags, command));
}
