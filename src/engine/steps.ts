import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BuildError } from '../source/index.ts';
import type { CopyOp, RunOp, Vertex, WorkdirOp } from '../plan/index.ts';
import { HEREDOC_EXEC_DIR } from '../plan/index.ts';
import { runContainer, type MountSpec } from '../exec/index.ts';
import type { MergedView } from '../fsview/merged.ts';
import { ensureDir } from '../fsview/upper.ts';
import type { StoreLayout } from '../store/layout.ts';
import { executeCopy, matchSources, parseChmod } from './copy.ts';
import { NO_RUN_MOUNT_ENV, prepareRunMounts, type RunMountEnv } from './run-mounts.ts';
import { readUserDb } from './rootfs-users.ts';
import type { SourceTree } from './source-tree.ts';
import type { CopyReuse } from './copy-reuse.ts';
import { resolveChown, resolveWorkdirOwner, UserLookupError } from './users.ts';
import { prepareProcess } from './container-process.ts';

/** Everything a filesystem step needs besides its op: where it writes and how to report. */
export interface StepEnv {
  layout: StoreLayout;
  vertex: Vertex;
  source: string;
  /** Temp dir of this step; `upper` (and `work`) live inside it. */
  tempDir: string;
  upperDir: string;
  lowerDirs: string[];
  contextDir?: string;
  /** How RUN mounts reach other stages, images, the context filter, secrets and entitlements. */
  mounts?: RunMountEnv;
  /** COPY only: unchanged files may come from the step's previous snapshot (copy-reuse.ts). */
  copyReuse?: CopyReuse;
  onOutput(stream: 'stdout' | 'stderr', chunk: Buffer): void;
  signal?: AbortSignal;
}

export function stepView(env: StepEnv): MergedView {
  return { layers: [env.upperDir, ...env.lowerDirs] };
}

function fail(env: StepEnv, message: string): never {
  throw new BuildError(message, env.vertex.range, { source: env.source });
}

function userError<T>(env: StepEnv, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof UserLookupError) fail(env, error.message);
    throw error;
  }
}

/** RUN: the command in a container over the parent's layers; its changes land in the upper dir. */
export async function executeRun(env: StepEnv, op: RunOp): Promise<void> {
  const workDir = path.join(env.tempDir, 'work');
  mkdirSync(workDir, { recursive: true });
  const proc = userError(env, () => prepareProcess(stepView(env), { user: op.user, cwd: op.cwd, env: op.env }));
  const processEnv = proc.env;
  const prepared = await prepareRunMounts({
    layout: env.layout, tempDir: env.tempDir, source: env.source, range: env.vertex.range, env: env.mounts ?? NO_RUN_MOUNT_ENV,
  }, op);
  const mounts: MountSpec[] = prepared.mounts;
  if (op.argv[0]?.startsWith(`${HEREDOC_EXEC_DIR}/`)) {
    const pipes = path.join(env.tempDir, 'pipes');
    mkdirSync(pipes, { recursive: true });
    for (const doc of op.heredocs) writeFileSync(path.join(pipes, doc.name.replaceAll('/', '_')), doc.content, { mode: 0o755 });
    mounts.push({ kind: 'bind', source: pipes, target: HEREDOC_EXEC_DIR, readonly: true });
  }
  // A secret given as an environment variable replaces one of the same name.
  for (const entry of prepared.env) {
    const name = entry.slice(0, entry.indexOf('=') + 1);
    const at = processEnv.findIndex((e) => e.startsWith(name));
    if (at >= 0) processEnv.splice(at, 1);
    processEnv.push(entry);
  }
  let result;
  try {
    result = await runContainer({
      rootfs: { kind: 'overlay', lowerDirs: env.lowerDirs, upperDir: env.upperDir, workDir },
      args: op.argv, env: processEnv, cwd: proc.cwd, uid: proc.uid, gid: proc.gid, groups: proc.groups,
      hostname: 'buildkitsandbox', network: op.network, mounts, privileged: op.security === 'insecure', locks: prepared.locks,
      buildStep: true,
    }, {
      onStdout: (chunk) => env.onOutput('stdout', chunk),
      onStderr: (chunk) => env.onOutput('stderr', chunk),
      signal: env.signal,
    });
  } finally {
    prepared.release();
  }
  rmSync(workDir, { recursive: true, force: true });
  if (result.exitCode !== 0) {
    const shown = JSON.stringify(op.argv.join(' '));
    fail(env, `process ${shown} did not complete successfully: exit code: ${result.exitCode}`);
  }
}

/** COPY/ADD: files from the context, a stage or an image into the upper dir. */
export async function executeCopyStep(env: StepEnv, op: CopyOp, tree: SourceTree): Promise<void> {
  const view = stepView(env);
  const owner = op.chown ? userError(env, () => {
    // --link copies into an empty root ("the equivalent of FROM scratch", the reference): names
    // have no /etc/passwd to come from there, so only ids and `root` work (Docker 26 fails too).
    const db = op.link ? { passwd: [], groups: [] } : readUserDb(view);
    try {
      return resolveChown(op.chown!, db.passwd, db.groups);
    } catch (error) {
      if (op.link && error instanceof UserLookupError) throw new UserLookupError(`${error.message} (COPY --link resolves names without the image's /etc/passwd and /etc/group)`);
      throw error;
    }
  }) : undefined;
  const chmod = op.chmod ? parseChmod(op.chmod, env.vertex.range, env.source) : undefined;
  const ctx = { op, tree, view, owner, chmod, range: env.vertex.range, source: env.source, reuse: env.copyReuse };
  const matches = matchSources(ctx);
  if (op.heredocs.length) {
    const docs = path.join(env.tempDir, 'heredocs');
    mkdirSync(docs, { recursive: true });
    for (const doc of op.heredocs) {
      const file = path.join(docs, doc.name);
      writeFileSync(file, doc.content, { mode: 0o644 });
      matches.push({ word: doc.name, rel: doc.name, entry: { rel: doc.name, hostPath: file, stat: statSync(file) } });
    }
  }
  await executeCopy(ctx, matches);
}

/** WORKDIR: `mkdir -p` owned by the current USER for the parts that do not exist yet. */
export function executeWorkdir(env: StepEnv, op: WorkdirOp): void {
  const view = stepView(env);
  let owner = { uid: 0, gid: 0 };
  if (op.user) {
    const db = readUserDb(view);
    owner = resolveWorkdirOwner(op.user, db.passwd, db.groups);
  }
  ensureDir(view, op.path.replace(/^\/+/, ''), owner, { onlyIfMissing: true });
}
