/**
 * RUN: the command in a working container over the parent's layers; its changes land in the
 * active snapshot's upper dir. Keyed by the command, its environment (proxy values given only with
 * --build-arg left out, as Docker does), user, working directory, network, security mode, mounts
 * and heredocs, the build's `--add-host`, `--shm-size` and `--ulimit`, plus the digests of what its bind
 * mounts read. The build's cgroup limits are not keyed: they bound a RUN, they do not change what it makes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HEREDOC_EXEC_DIR, type RunOp } from '../plan/index.ts';
import type { MountSpec } from '../exec/index.ts';
import { defaultHosts } from '../exec/spec.ts';
import { openWorkingContainer, runWorkingContainer, type ContainerRun, type WorkingContainer } from '../container/working.ts';
import { prepareRunMounts, runMountDigests, type RunMountEnv } from '../mounts/run-mounts.ts';
import type { ActiveSnapshot } from '../snapshot/snapshotter.ts';
import { failStep, placeUserError } from './errors.ts';
import type { StepContext, StepKind, StepWork } from './types.ts';

/** A RUN container's host name, as BuildKit's. */
const HOSTNAME = 'buildkitsandbox';

/** The parts of a RUN that decide its result. */
export function keyedRun(op: RunOp): unknown {
  const unkeyed = new Set(op.unkeyedEnv ?? []);
  const env = unkeyed.size ? op.env.filter((e) => !unkeyed.has(e.slice(0, e.indexOf('=')))) : op.env;
  return {
    kind: 'run', argv: op.argv, env, cwd: op.cwd, user: op.user, network: op.network, security: op.security, sandbox: op.sandbox,
    mounts: op.mounts.map((m) => ({ ...m, range: undefined })),
    heredocs: op.heredocs.map((h) => ({ name: h.name, content: h.content, expand: h.expand, chomp: h.chomp })),
  };
}

/** What RUN --mount needs from the build: `from=` roots, the context, secrets, entitlements. */
function mountEnvOf(ctx: StepContext): RunMountEnv {
  const { services, vertex, inputs } = ctx;
  return {
    rootOf: (from) => {
      if (from.kind === 'context') throw new Error('the context is not a root file system');
      return services.rootOf(from, vertex, inputs);
    },
    contextDir: services.contextDir, contextFilter: services.contextFilter, statCache: services.statCache,
    secrets: services.secrets, allow: services.allow, ssh: services.ssh,
  };
}

/** Heredocs run as files (`RUN <<EOF` with a shebang): written beside the snapshot, bound read-only. */
function heredocMount(op: RunOp, active: ActiveSnapshot): MountSpec | undefined {
  if (!op.argv[0]?.startsWith(`${HEREDOC_EXEC_DIR}/`)) return undefined;
  const pipes = path.join(active.dir, 'pipes');
  mkdirSync(pipes, { recursive: true });
  for (const doc of op.heredocs) writeFileSync(path.join(pipes, doc.name.replaceAll('/', '_')), doc.content, { mode: 0o755 });
  return { kind: 'bind', source: pipes, target: HEREDOC_EXEC_DIR, readonly: true };
}

async function executeRun(ctx: StepContext, op: RunOp, mountEnv: RunMountEnv, active: ActiveSnapshot): Promise<void> {
  const { services, vertex } = ctx;
  const container = placeUserError(ctx, () => openWorkingContainer(active, { user: op.user, cwd: op.cwd, env: op.env }));
  const prepared = await prepareRunMounts({
    layout: services.layout, tempDir: active.dir, range: vertex.range, env: mountEnv,
  }, op);
  const mounts: MountSpec[] = prepared.mounts;
  const heredocs = heredocMount(op, active);
  if (heredocs) mounts.push(heredocs);
  // A secret given as an environment variable replaces one of the same name.
  const processEnv = container.process.env;
  for (const entry of prepared.env) {
    const name = entry.slice(0, entry.indexOf('=') + 1);
    const at = processEnv.findIndex((e) => e.startsWith(name));
    if (at >= 0) processEnv.splice(at, 1);
    processEnv.push(entry);
  }
  const run: ContainerRun = {
    args: op.argv, hostname: HOSTNAME, network: op.network, mounts, privileged: op.security === 'insecure', locks: prepared.locks,
    hosts: defaultHosts(HOSTNAME, op.sandbox?.extraHosts), shmSize: op.sandbox?.shmSize, ulimits: op.sandbox?.ulimits, resources: services.resources, buildStep: true,
  };
  try {
    const result = await runWorkingContainer(container, run, {
      onStdout: (chunk) => ctx.log('stdout', chunk),
      onStderr: (chunk) => ctx.log('stderr', chunk),
      signal: services.signal,
    });
    if (result.exitCode === 0) return;
    if (services.debugOnError) await debugShell(ctx, container, run, services.debugOnError);
    failStep(ctx, `process ${JSON.stringify(op.argv.join(' '))} did not complete successfully: exit code: ${result.exitCode}`);
  } finally {
    prepared.release();
  }
}

/**
 * `--debug-on-error`: a shell (or the given command) in the failing RUN's container, with its
 * mounts, environment, user and working directory, over the file system as the command left it;
 * the terminal's. What it changes is thrown away with the step: nothing failed is ever committed.
 */
async function debugShell(ctx: StepContext, container: WorkingContainer, run: ContainerRun, command: readonly string[]): Promise<void> {
  ctx.log('stderr', `debug shell in the failing step (${command.join(' ')}); exit it to end the build\n`);
  await runWorkingContainer(container, { ...run, args: [...command], stdin: 'inherit' }, {
    onStdout: (chunk) => process.stdout.write(chunk),
    onStderr: (chunk) => process.stderr.write(chunk),
    signal: ctx.services.signal,
  });
}

export const runStepKind: StepKind = async (ctx): Promise<StepWork> => {
  const op = ctx.vertex.op;
  if (op.kind !== 'run') throw new Error(`not a RUN step: ${op.kind}`);
  const mountEnv = mountEnvOf(ctx);
  const digests = await runMountDigests(op, mountEnv, ctx.vertex.range);
  return { keyed: keyedRun(op), digests, execute: (active) => executeRun(ctx, op, mountEnv, active) };
};
