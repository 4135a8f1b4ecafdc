/**
 * COPY and ADD: files from the context, a stage or an image into the active snapshot's upper dir
 * (the semantics live in src/copy). Keyed by the op and the digest of exactly what it reads: the
 * matched context files' contents, or the identity of the stage or image it copies from.
 *
 * A COPY from the context that rebuilds the same step reuses its previous snapshot's unchanged
 * files (src/copy/reuse.ts): the donor is claimed before the copy, the layer splices the donor's
 * members for the files it moved, and the new snapshot becomes the next rebuild's donor.
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CopyOp } from '../plan/index.ts';
import type { MergedView } from '../fsview/merged.ts';
import { executeCopy, matchSources, parseChmod } from '../copy/execute.ts';
import { contextCopyInput } from '../copy/input.ts';
import { dirIdentity, layerSplice, lineageKey, reusableCopy, sameDir, saveLineage, startCopyReuse, type CopyReuse, type DirIdentity } from '../copy/reuse.ts';
import { mergedTree, type SourceTree } from '../copy/source-tree.ts';
import { copyManifest } from '../copy/manifest.ts';
import type { Match } from '../copy/match.ts';
import { readUserDb } from '../container/rootfs-users.ts';
import { resolveChown, UserLookupError } from '../container/users.ts';
import type { ArchiveOptions } from '../layer/diff.ts';
import type { ActiveSnapshot } from '../snapshot/snapshotter.ts';
import { placeUserError } from './errors.ts';
import type { StepContext, StepKind, StepWork } from './types.ts';

/** `op`: the op as it copies (a git source becomes the root of its checkout). */
interface CopyInput { tree: SourceTree; digest: string; matches?: Match[]; op?: CopyOp }

/** The tree a COPY reads and the digest of what it reads from there. */
async function copyInput(ctx: StepContext, op: CopyOp): Promise<CopyInput> {
  const { services, vertex } = ctx;
  if (op.from.kind === 'context') {
    return contextCopyInput({
      op, contextDir: services.contextDir, contextFilter: services.contextFilter, statCache: services.statCache, content: services.content,
      tmpDir: services.layout.tmp, urlCache: services.layout.urlCache, gitDir: services.layout.git,
      epochSet: services.sourceDateEpoch !== undefined, range: vertex.range, signal: services.signal,
    });
  }
  if (op.from.kind === 'dir') {
    // A directory build context: read like the context, without its .dockerignore or stat cache.
    return contextCopyInput({
      op, contextDir: op.from.path, content: services.content, tmpDir: services.layout.tmp,
      range: vertex.range, signal: services.signal,
    });
  }
  const root = await services.rootOf(op.from, vertex, ctx.inputs);
  const describe = op.from.kind === 'stage' ? `stage ${op.from.stage}` : `image ${op.from.ref}`;
  return { tree: mergedTree({ layers: root.lowerDirs }, describe), digest: root.key };
}

async function executeCopyStep(ctx: StepContext, op: CopyOp, tree: SourceTree, active: ActiveSnapshot, reuse?: CopyReuse): Promise<void> {
  const { vertex } = ctx;
  const view: MergedView = { layers: [active.upperDir, ...active.lowerDirs] };
  const owner = op.chown ? placeUserError(ctx, () => {
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
  const chmod = op.chmod ? parseChmod(op.chmod, vertex.range) : undefined;
  const copy = { op, tree, view, owner, chmod, range: vertex.range, reuse };
  const matches = matchSources(copy);
  if (op.heredocs.length) {
    const docs = path.join(active.dir, 'heredocs');
    mkdirSync(docs, { recursive: true });
    for (const doc of op.heredocs) {
      const file = path.join(docs, doc.name);
      writeFileSync(file, doc.content, { mode: 0o644 });
      matches.push({ word: doc.name, rel: doc.name, entry: { rel: doc.name, hostPath: file, stat: statSync(file) } });
    }
  }
  await executeCopy(copy, matches);
}

/** Copy reuse's part in the pipeline: claim before, splice at commit, remember after. */
function reusingWork(ctx: StepContext, op: CopyOp, input: CopyInput, lineage: string): StepWork {
  const { services } = ctx;
  let reuse: CopyReuse | undefined;
  let upperIdentity: DirIdentity | undefined;
  // Where this copy's own members are in its layer, for the next rebuild's splice.
  const members = new Map<string, [number, number]>();
  return {
    keyed: { ...op },
    digests: [input.digest],
    files: filesOf(ctx, input),
    async execute(active) {
      reuse = startCopyReuse(services.layout, services.content, lineage, active.dir, { safeBeforeMs: ctx.startedAt, claim: !ctx.skipsCache });
      await executeCopyStep(ctx, input.op ?? op, input.tree, active, reuse);
    },
    archive(active): ArchiveOptions | undefined {
      if (!reuse) return undefined;
      const written = reuse.written;
      // Which inode the upper dir is: only if it becomes the snapshot is the snapshot this copy's.
      upperIdentity = dirIdentity(active.upperDir);
      return { splice: layerSplice(reuse), onEntry: (name, offset, length) => { if (written.has(name)) members.set(name, [offset, length]); } };
    },
    stillValid: () => stillValid(ctx, op, input),
    kept(layer) {
      if (!reuse || !layer) return;
      const snapshotIdentity = dirIdentity(services.snapshots.pathOf(layer.chainId));
      if (snapshotIdentity && sameDir(snapshotIdentity, upperIdentity)) saveLineage(services.layout, lineage, layer, reuse, members, snapshotIdentity);
    },
  };
}

/** The files a COPY from the context read, for explaining its next miss. */
function filesOf(ctx: StepContext, input: CopyInput): StepWork['files'] {
  const { matches } = input;
  return matches ? () => copyManifest(input.tree, matches, ctx.services.statCache) : undefined;
}

/** A context file edited while it was copied: the layer may not match the key. */
async function stillValid(ctx: StepContext, op: CopyOp, input: CopyInput): Promise<boolean> {
  return op.from.kind !== 'context' || (await copyInput(ctx, op)).digest === input.digest;
}

export const copyStepKind: StepKind = async (ctx) => {
  const op = ctx.vertex.op;
  if (op.kind !== 'copy') throw new Error(`not a COPY step: ${op.kind}`);
  const input = await copyInput(ctx, op);
  const contextDir = ctx.services.contextDir;
  if (reusableCopy(op) && contextDir) {
    return reusingWork(ctx, op, input, lineageKey(ctx.parent.chain.at(-1)?.chainId ?? '', op, contextDir));
  }
  return {
    // A directory context's files are in the digest; where it lies on this machine is not keyed.
    keyed: op.from.kind === 'dir' ? { ...op, from: { kind: 'dir', name: op.from.name } } : { ...op },
    digests: [input.digest],
    files: filesOf(ctx, input),
    execute: (active) => executeCopyStep(ctx, input.op ?? op, input.tree, active),
    stillValid: () => stillValid(ctx, op, input),
  };
};
