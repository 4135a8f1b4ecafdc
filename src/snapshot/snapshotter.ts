/**
 * The snapshotter, in containerd's shape: committed snapshots are read-only directories named by
 * chain id (one per layer, unpacked from its blob on demand); an active snapshot is a writable
 * upper dir over a chain. Callers get mount descriptions (lower dirs, upper and work dir) and
 * never build store paths themselves; only the runtime mounts them (in the sandbox's own mount
 * namespace, so nothing is left mounted on the host when a build dies).
 *
 * Every snapshot a snapshotter hands out is leased until `release()` (src/snapshot/leases.ts), so
 * a concurrent rebuild's copy reuse can never take it away while it is read.
 */
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { ContentStore } from '../content/index.ts';
import type { ArchiveOptions } from '../layer/diff.ts';
import type { StoreLayout } from '../store/layout.ts';
import { openLeases, type SnapshotLeases } from './leases.ts';
import { pruneNoopDirs } from './prune-upper.ts';
import { commitUpper, emptyLowerDir, ensureSnapshots, makeTempDir, snapshotDirOf, type ChainLayer } from './snapshots.ts';

/** A writable snapshot over a chain: what an overlay mount of it needs, and a private scratch dir. */
export interface ActiveSnapshot {
  /** Private to this snapshot: `upper` and `work` live here, and a step may stage files beside them. */
  dir: string;
  upperDir: string;
  workDir: string;
  /** The chain's snapshot dirs, top first (one empty dir for an empty chain). */
  lowerDirs: string[];
  /** Chain id of the top layer below, undefined on an empty chain. */
  parentChainId: string | undefined;
}

export interface Snapshotter {
  /** The chain unpacked and leased; its dirs top first, as overlay lower dirs. */
  view(chain: readonly ChainLayer[]): Promise<string[]>;
  /** A new active snapshot over the chain (`purpose` names its temp dir, for people reading the store). */
  prepare(chain: readonly ChainLayer[], purpose: string): Promise<ActiveSnapshot>;
  /**
   * The active snapshot's changes as a stored layer whose snapshot is the upper dir itself;
   * undefined when it changed nothing (an empty layer, which BuildKit drops too).
   */
  commit(active: ActiveSnapshot, archive?: ArchiveOptions): Promise<ChainLayer | undefined>;
  /** Drops an active snapshot (after commit, what is left of it). */
  remove(active: ActiveSnapshot): void;
  /** The directory of a committed snapshot (copy reuse compares its identity with an upper dir's). */
  pathOf(chainId: string): string;
  /** Ends every lease this snapshotter took. */
  release(): void;
}

export function openSnapshotter(layout: StoreLayout, content: ContentStore): Snapshotter {
  const leases: SnapshotLeases = openLeases(layout);
  const view = async (chain: readonly ChainLayer[]): Promise<string[]> => {
    if (chain.length === 0) return [emptyLowerDir(layout)];
    await ensureSnapshots(layout, content, chain, leases);
    return chain.map((l) => snapshotDirOf(layout, l.chainId)).reverse();
  };
  return {
    view,
    async prepare(chain, purpose) {
      const lowerDirs = await view(chain);
      const dir = makeTempDir(layout, purpose);
      const upperDir = path.join(dir, 'upper');
      const workDir = path.join(dir, 'work');
      mkdirSync(upperDir);
      mkdirSync(workDir);
      return { dir, upperDir, workDir, lowerDirs, parentChainId: chain.at(-1)?.chainId };
    },
    async commit(active, archive) {
      rmSync(active.workDir, { recursive: true, force: true });
      if (active.parentChainId) pruneNoopDirs(active.upperDir, active.lowerDirs);
      return commitUpper(layout, content, active.upperDir, active.parentChainId, leases, archive);
    },
    remove(active) {
      rmSync(active.dir, { recursive: true, force: true });
    },
    pathOf: (chainId) => snapshotDirOf(layout, chainId),
    release: () => leases.release(),
  };
}
