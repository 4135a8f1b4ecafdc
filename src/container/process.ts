/**
 * The process of a working container, as a RUN step and `berth run` both start it: the user
 * (runc's rules, against the image's own /etc/passwd and /etc/group), the environment with
 * Docker's HOME and PATH defaults, and a working directory that exists (made root-owned when
 * missing, as BuildKit does). One place, so the two never drift apart.
 */
import type { MergedView } from '../fsview/merged.ts';
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
