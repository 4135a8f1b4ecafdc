import { closeSync, mkdirSync, openSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fsExtra, LOCK_EX, LOCK_SH, LOCK_UN } from '../sys/fsx.ts';
import type { StoreLayout } from '../store/layout.ts';

/**
 * Per-snapshot leases. A snapshot dir is normally immutable and shared: builds and `berth run`
 * stack it under their overlays. One thing takes a snapshot away while the store is in use: a
 * COPY that rebuilds the same step (same parent, same instruction) claims the step's previous
 * snapshot as a donor and moves its unchanged files into the new layer instead of copying them
 * (src/copy/reuse.ts). A claim must never touch a snapshot somebody still reads, so:
 *
 * - every user holds a shared flock(2) on the snapshot's lock file from before it checks the
 *   dir exists until it is done (a lease set per build or run, released at its end; flocks die
 *   with their process, so a killed build leaves nothing held);
 * - a claim takes the exclusive flock without waiting, and only while holding it renames the dir
 *   out of `snapshots/`. Anyone who comes later finds the dir gone and unpacks it again from its
 *   blob, which is never touched.
 *
 * flock locks belong to open file descriptions, so two lease sets of one process (or a lease and
 * a claim) conflict like two processes would: a build never claims a snapshot it uses itself.
 */
export interface SnapshotLeases {
  /** Takes a shared lease on a snapshot (idempotent); waits out a claim in progress. */
  hold(chainId: string): void;
  /** Releases every lease of this set. */
  release(): void;
}

// Made on first use: a module-level SharedArrayBuffer cannot go into the start-up snapshot.
let waitCell: Int32Array | undefined;

function pause(ms: number): void {
  waitCell ??= new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(waitCell, 0, 0, ms);
}

function lockDir(layout: StoreLayout): string {
  return layout.snapshotLocks;
}

function lockFileOf(layout: StoreLayout, chainId: string): string {
  return path.join(lockDir(layout), `${chainId.replace(/^sha256:/, '')}.lock`);
}

function openLockFile(layout: StoreLayout, chainId: string): number {
  try {
    return openSync(lockFileOf(layout, chainId), 'a');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    mkdirSync(lockDir(layout), { recursive: true });
    return openSync(lockFileOf(layout, chainId), 'a');
  }
}

export function openLeases(layout: StoreLayout): SnapshotLeases {
  const held = new Map<string, number>();
  return {
    hold(chainId) {
      if (held.has(chainId)) return;
      const fd = openLockFile(layout, chainId);
      // A claim holds the exclusive lock only for one rename: a short sleep-and-retry is enough.
      while (!fsExtra().flock(fd, LOCK_SH)) pause(2);
      held.set(chainId, fd);
    },
    release() {
      for (const fd of held.values()) {
        fsExtra().flock(fd, LOCK_UN);
        closeSync(fd);
      }
      held.clear();
    },
  };
}

/**
 * Moves a snapshot dir to `to` if nobody holds a lease on it (nor is claiming it). Returns false
 * when it is in use or gone; the snapshot's blob stays, so it can always be unpacked again.
 */
export function claimSnapshot(layout: StoreLayout, chainId: string, snapshotDir: string, to: string): boolean {
  const fd = openLockFile(layout, chainId);
  try {
    if (!fsExtra().flock(fd, LOCK_EX)) return false;
    try {
      renameSync(snapshotDir, to);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    } finally {
      fsExtra().flock(fd, LOCK_UN);
    }
  } finally {
    closeSync(fd);
  }
}

/** Drops lock files of snapshots that no longer exist (prune; the store is exclusively locked). */
export function removeStaleLeaseFiles(layout: StoreLayout, live: ReadonlySet<string>): void {
  let names: string[];
  try {
    names = readdirSync(lockDir(layout));
  } catch {
    return;
  }
  for (const name of names) {
    if (name.endsWith('.lock') && !live.has(name.slice(0, -'.lock'.length))) rmSync(path.join(lockDir(layout), name), { force: true });
  }
}
