import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFileAtomic } from '../content/store.ts';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fsExtra, LOCK_EX, LOCK_SH, LOCK_UN } from '../sys/fsx.ts';
import type { StoreLayout } from './layout.ts';

/**
 * The store's one coarse lock. Builds hold it shared for their whole run; garbage collection
 * (`berth prune`) takes it exclusively, so it never removes a blob, snapshot or cache entry that
 * a running build may be about to use. flock(2) locks die with their process, so a killed build
 * never leaves the store locked.
 */
export interface StoreLock {
  release(): void;
}

async function acquire(layout: StoreLayout, operation: number, onWait?: () => void): Promise<StoreLock> {
  mkdirSync(layout.locks, { recursive: true });
  const fd = openSync(path.join(layout.locks, 'gc.lock'), 'a');
  let waited = false;
  while (!fsExtra().flock(fd, operation)) {
    if (!waited) onWait?.();
    waited = true;
    await sleep(100);
  }
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      fsExtra().flock(fd, LOCK_UN);
      closeSync(fd);
    },
  };
}

function currentBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/**
 * Snapshots are unpacked layers written without fsync (their blobs are fsynced). After a reboot,
 * which may have been a power loss, the snapshots of the previous boot cannot be trusted: they are
 * dropped once, under the exclusive lock, and unpacked again from their blobs when next needed.
 */
async function dropSnapshotsAfterReboot(layout: StoreLayout): Promise<void> {
  const marker = path.join(layout.snapshots, '.boot-id');
  const boot = currentBootId();
  const recorded = (): string | undefined => {
    try {
      return readFileSync(marker, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  if (recorded() === boot) return;
  const exclusive = await acquire(layout, LOCK_EX);
  try {
    const seen = recorded();
    if (seen === boot) return;
    mkdirSync(layout.snapshots, { recursive: true });
    if (seen !== undefined) {
      for (const name of readdirSync(layout.snapshots)) {
        if (name.startsWith('.')) continue;
        rmSync(path.join(layout.snapshots, name), { recursive: true, force: true });
      }
    }
    await writeFileAtomic(marker, `${boot}\n`);
  } finally {
    exclusive.release();
  }
}

/** Shared lock for anything that writes to or reads snapshots and blobs (build, run, load, pull). */
export async function lockForBuild(layout: StoreLayout, onWait?: () => void): Promise<StoreLock> {
  await dropSnapshotsAfterReboot(layout);
  return acquire(layout, LOCK_SH, onWait);
}

export function lockForCollection(layout: StoreLayout, onWait?: () => void): Promise<StoreLock> {
  return acquire(layout, LOCK_EX, onWait);
}
