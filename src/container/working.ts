/**
 * A working container: an active snapshot (src/snapshot/snapshotter.ts) with a process to run in
 * it, as a RUN step and `berth run` (and, next, a debug shell) all start one: the user (runc's
 * rules, against the image's own /etc/passwd and /etc/group), the environment with Docker's HOME
 * and PATH defaults, a working directory that exists (made root-owned when missing, as BuildKit
 * does), and the overlay root file system. One place, so they never drift apart.
 */
import { runContainer, type ContainerIO, type ContainerResult, type ContainerSpec } from '../exec/index.ts';
import type { MergedView } from '../fsview/merged.ts';
import type { ActiveSnapshot } from '../snapshot/snapshotter.ts';
import { ensureDir } from '../fsview/upper.ts';
import { DEFAULT_PATH } from '../plan/index.ts';
import { readUserDb } from './rootfs-users.ts';
import { resolveExecUser } from './users.ts';

export interface ProcessRequest {
  /** `user[:group]`, ids or names; empty is root. */
  user: string;
  /** Absolute; empty means `/`. */
  cwd: string;
  /** `K=V` entries, as the image or the step has them. */
  env: readonly string[];
}

export interface ContainerProcess {
  uid: number;
  gid: number;
  groups: number[];
  cwd: string;
  env: string[];
}

/** Throws UserLookupError (for the caller to place) when the user or group is not found. */
export function prepareProcess(view: MergedView, request: ProcessRequest): ContainerProcess {
  const db = readUserDb(view);
  const user = resolveExecUser(request.user, db.passwd, db.groups);
  const cwd = request.cwd || '/';
  ensureDir(view, cwd.replace(/^\/+/, ''), { uid: 0, gid: 0 }, { onlyIfMissing: true });
  const env = [...request.env];
  if (!env.some((e) => e.startsWith('PATH='))) env.push(`PATH=${DEFAULT_PATH}`);
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home || '/'}`);
  return { uid: user.uid, gid: user.gid, groups: user.groups, cwd, env };
}

export interface WorkingContainer {
  snapshot: ActiveSnapshot;
  /** The container's file system as the host sees it (upper dir over the lower dirs). */
  view: MergedView;
  process: ContainerProcess;
}

/** Everything of a run that is not the root file system or the process. */
export type ContainerRun = Omit<ContainerSpec, 'rootfs' | 'env' | 'cwd' | 'uid' | 'gid' | 'groups'>;

/** Throws UserLookupError (for the caller to place) when the user or group is not found. */
export function openWorkingContainer(snapshot: ActiveSnapshot, request: ProcessRequest): WorkingContainer {
  const view: MergedView = { layers: [snapshot.upperDir, ...snapshot.lowerDirs] };
  return { snapshot, view, process: prepareProcess(view, request) };
}

/** Runs the container's process over its snapshot; its writes land in the snapshot's upper dir. */
export function runWorkingContainer(container: WorkingContainer, run: ContainerRun, io: ContainerIO): Promise<ContainerResult> {
  const { snapshot, process: proc } = container;
  return runContainer({
    ...run,
    rootfs: { kind: 'overlay', lowerDirs: snapshot.lowerDirs, upperDir: snapshot.upperDir, workDir: snapshot.workDir },
    env: proc.env, cwd: proc.cwd, uid: proc.uid, gid: proc.gid, groups: proc.groups,
  }, io);
}
