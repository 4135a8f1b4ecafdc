import { closeSync, mkdirSync, openSync } from 'node:fs';
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

export function lockForBuild(layout: StoreLayout, onWait?: () => void): Promise<StoreLock> {
  return acquire(layout, LOCK_SH, onWait);
}

export function lockForCollection(layout: StoreLayout, onWait?: () => void): Promise<StoreLock> {
  return acquire(layout, LOCK_EX, onWait);
}
