/**
 * Keeping failed and interrupted builds from leaving active snapshot directories behind.
 *
 * - withActive() removes the active snapshot when the work inside it throws (or is not committed);
 * - every live active directory is remembered (store.ts) and removed synchronously on process
 *   exit (the CLI turns SIGINT/SIGTERM into an orderly exit so this runs);
 * - a process killed with SIGKILL cannot clean up, so cleanupStale() removes active directories
 *   whose owning process (the pid in their name) no longer exists; run it when a store is opened.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { forgetActive, isLive, prepare, remove, tempRoot, trackActive, type ActiveSnapshot } from './store.ts';
import { pidAlive } from '../store/pid.ts';

/**
 * Run `fn` on a fresh active snapshot. If `fn` throws, or returns without committing, the active
 * snapshot is removed; a committed one is left alone.
 */
export async function withActive<T>(
  root: string,
  parentChain: string[],
  fn: (active: ActiveSnapshot) => Promise<T>,
): Promise<T> {
  const active = await prepare(root, parentChain);
  try {
    return await fn(active);
  } finally {
    if (isLive(active.dir)) await remove(active);
  }
}

/**
 * Run `fn` with a fresh scratch directory in the store's temp area (same filesystem as the
 * snapshots, so its contents can be renamed into the store). The directory is removed afterwards
 * whatever happens, at process exit if the process ends first, and by cleanupStale() after a
 * crash. `fn` may rename things out of it; whatever is left is deleted.
 */
export async function withTempDir<T>(root: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await makeTempDir(root, 'tmp');
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    forgetActive(dir);
  }
}

/** A tracked directory under <root>/snapshots/.tmp named after this process (see cleanupStale). */
async function makeTempDir(root: string, kind: string): Promise<string> {
  await mkdir(tempRoot(root), { recursive: true, mode: 0o700 });
  const dir = `${tempRoot(root)}/${process.pid}-${kind}-${randomBytes(6).toString('hex')}`;
  await mkdir(dir, { mode: 0o700 });
  trackActive(dir);
  return dir;
}

/**
 * Remove leftovers of dead processes from `<root>/snapshots/.tmp`. Entries of live processes
 * (including concurrent builds sharing the store) are kept. Returns the removed directories.
 */
export async function cleanupStale(root: string): Promise<string[]> {
  const tmp = tempRoot(root);
  let names: string[];
  try {
    names = await readdir(tmp);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = Number(/^(\d+)-/.exec(name)?.[1]);
    const dir = join(tmp, name);
    const ours = pid === process.pid && isLive(dir);
    if (ours || (pid > 0 && pid !== process.pid && pidAlive(pid))) continue;
    await rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}
