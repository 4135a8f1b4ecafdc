/**
 * WORKDIR: `mkdir -p` owned by the current USER for the parts that do not exist yet (BuildKit
 * makes the directory as the user in effect). Keyed by the op alone: it reads nothing else.
 */
import { ensureDir } from '../fsview/upper.ts';
import type { MergedView } from '../fsview/merged.ts';
import type { WorkdirOp } from '../plan/index.ts';
import { readUserDb } from '../container/rootfs-users.ts';
import { resolveWorkdirOwner } from '../container/users.ts';
import type { ActiveSnapshot } from '../snapshot/snapshotter.ts';
import type { StepContext, StepKind } from './types.ts';

function executeWorkdir(ctx: StepContext, op: WorkdirOp, active: ActiveSnapshot): void {
  const view: MergedView = { layers: [active.upperDir, ...active.lowerDirs] };
  let owner = { uid: 0, gid: 0 };
  if (op.user) {
    const db = readUserDb(view);
    owner = resolveWorkdirOwner(op.user, db.passwd, db.groups);
  }
  ensureDir(view, op.path.replace(/^\/+/, ''), owner, { onlyIfMissing: true });
}

export const workdirStepKind: StepKind = (ctx) => {
  const op = ctx.vertex.op;
  if (op.kind !== 'workdir') throw new Error(`not a WORKDIR step: ${op.kind}`);
  return Promise.resolve({ keyed: { ...op }, digests: [], execute: async (active) => executeWorkdir(ctx, op, active) });
};
