/**
 * Overlay snapshots as plain directories, in the spirit of containerd's overlay snapshotter, but
 * without mounting anything: prepare() hands back the directories an overlay needs and the
 * runtime (src/exec) mounts them inside its own mount namespace.
 *
 *   <root>/snapshots/<id>/fs         a committed layer: one diff in overlay-upper form
 *                                    (whiteouts are char 0:0 devices, opaque directories carry
 *                                    trusted.overlay.opaque=y)
 *   <root>/snapshots/.tmp/<pid>-<n>/ an active snapshot: fs/ (the upper dir), work/ (overlay's
 *                                    work dir), and for a chain without layers an empty lower/
 *
 * Committing renames the whole active directory to its id in one rename(2), so a committed
 * snapshot is either complete or absent; if the id already exists (a concurrent build made the
 * same layer) ours is discarded and theirs kept.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { rmSync } from 'node:fs';

export interface ActiveSnapshot {
  /** Store root this snapshot belongs to. */
  root: string;
  /** The active snapshot's private directory (removed or renamed as a whole). */
  dir: string;
  /** Writable layer: after the run, it holds exactly the run's changes. */
  upperDir: string;
  /** Overlay's scratch directory, on the same filesystem as upperDir. */
  workDir: string;
  /** Read-only layers, top first (never empty: scratch gets an empty directory). */
  lowerDirs: string[];
  /** Committed ids the lower dirs came from, top first. */
  parentChain: string[];
}

export interface CommitResult {
  id: string;
  /** The committed diff directory (snapshotDir(root, id)). */
  dir: string;
  /** False when the id already existed and our upper dir was thrown away. */
  created: boolean;
}

/** overlayfs refuses stacks deeper than this (OVL_MAX_STACK). */
export const MAX_LAYERS = 500;

const TMP = '.tmp';
const ID_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.:=+-]{0,199}$/;

/* Active snapshot directories of this process, removed synchronously if it exits early. */
const live = new Set<string>();
let hookInstalled = false;

function removeAllSync(): void {
  for (const dir of live) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort at exit; cleanupStale() catches the rest next time
    }
  }
  live.clear();
}

/** Remember a directory of this process to remove at exit unless forgotten first. */
export function trackActive(dir: string): void {
  live.add(dir);
  if (!hookInstalled) {
    hookInstalled = true;
    process.once('exit', removeAllSync);
  }
}

export function forgetActive(dir: string): void {
  live.delete(dir);
}

export function isLive(dir: string): boolean {
  return live.has(dir);
}

/** Active snapshot directories this process still owns (for tests and diagnostics). */
export function liveActiveDirs(): string[] {
  return [...live];
}

export function snapshotsRoot(root: string): string {
  return join(root, 'snapshots');
}

export function tempRoot(root: string): string {
  return join(snapshotsRoot(root), TMP);
}

/** Ids become directory names, so they are checked (e.g. "sha256:<hex>" is fine, "../x" is not). */
export function assertSnapshotId(id: string): void {
  if (!ID_PATTERN.test(id)) throw new Error(`invalid snapshot id ${JSON.stringify(id)}`);
}

/** Directory holding a committed snapshot's diff. */
export function snapshotDir(root: string, id: string): string {
  assertSnapshotId(id);
  return join(snapshotsRoot(root), id, 'fs');
}

export async function exists(root: string, id: string): Promise<boolean> {
  try {
    return (await stat(snapshotDir(root, id))).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * A new active snapshot on top of `parentChain` (committed ids, top first; empty for FROM
 * scratch). Throws if a parent is missing.
 */
export async function prepare(root: string, parentChain: string[]): Promise<ActiveSnapshot> {
  if (parentChain.length > MAX_LAYERS) {
    throw new Error(`${parentChain.length} layers exceed overlayfs's limit of ${MAX_LAYERS}`);
  }
  const lowerDirs = parentChain.map((id) => snapshotDir(root, id));
  await Promise.all(
    parentChain.map(async (id) => {
      if (!(await exists(root, id))) throw new Error(`parent snapshot ${id} does not exist`);
    }),
  );

  await mkdir(tempRoot(root), { recursive: true, mode: 0o700 });
  const dir = join(tempRoot(root), `${process.pid}-${randomBytes(6).toString('hex')}`);
  await mkdir(dir, { mode: 0o700 });
  const active: ActiveSnapshot = {
    root,
    dir,
    upperDir: join(dir, 'fs'),
    workDir: join(dir, 'work'),
    lowerDirs,
    parentChain: [...parentChain],
  };
  trackActive(active.dir);
  try {
    // The upper dir becomes the layer's root directory: docker's image roots are 0755.
    await mkdir(active.upperDir, { mode: 0o755 });
    await mkdir(active.workDir, { mode: 0o700 });
    if (lowerDirs.length === 0) {
      // overlayfs needs at least one lower layer; scratch is an empty one.
      const empty = join(dir, 'lower');
      await mkdir(empty, { mode: 0o755 });
      active.lowerDirs = [empty];
    }
  } catch (error) {
    await remove(active);
    throw error;
  }
  return active;
}

/** Make the upper dir's contents durable before they become visible under their id. */
async function syncTree(path: string): Promise<void> {
  const entries = await readdir(path, { withFileTypes: true });
  for (const entry of entries) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) await syncTree(child);
    else if (entry.isFile()) await syncPath(child);
    // symlinks and device nodes (whiteouts) live entirely in their directory entry
  }
  await syncPath(path);
}

async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Turn an active snapshot into committed snapshot `id`. The overlay must no longer be mounted
 * (runContainer has returned). `sync: false` skips fsync for throwaway stores (tests).
 */
export async function commit(active: ActiveSnapshot, id: string, options: { sync?: boolean } = {}): Promise<CommitResult> {
  assertSnapshotId(id);
  const target = join(snapshotsRoot(active.root), id);
  const result: CommitResult = { id, dir: join(target, 'fs'), created: false };
  if (await exists(active.root, id)) {
    await remove(active);
    return result;
  }
  // Only fs/ survives: overlay's work dir and the scratch lower are scaffolding.
  await rm(active.workDir, { recursive: true, force: true });
  await rm(join(active.dir, 'lower'), { recursive: true, force: true });
  if (options.sync !== false) await syncTree(active.upperDir);
  try {
    await rename(active.dir, target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Lost the race to a concurrent commit of the same id: theirs is as good as ours.
    if (code === 'ENOTEMPTY' || code === 'EEXIST') {
      await remove(active);
      return result;
    }
    throw error;
  }
  forgetActive(active.dir);
  if (options.sync !== false) await syncPath(snapshotsRoot(active.root));
  result.created = true;
  return result;
}

/** Throw an active snapshot away. Safe to call twice or after a failed prepare. */
export async function remove(active: ActiveSnapshot): Promise<void> {
  await rm(active.dir, { recursive: true, force: true, maxRetries: 3 });
  forgetActive(active.dir);
}

/** Delete a committed snapshot (garbage collection; the caller knows nothing references it). */
export async function removeCommitted(root: string, id: string): Promise<void> {
  assertSnapshotId(id);
  const dir = join(snapshotsRoot(root), id);
  // Rename first so a crash mid-delete never leaves a half-deleted snapshot under its id.
  const doomed = join(tempRoot(root), `${process.pid}-rm-${randomBytes(6).toString('hex')}`);
  await mkdir(tempRoot(root), { recursive: true, mode: 0o700 });
  try {
    await rename(dir, doomed);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  await rm(doomed, { recursive: true, force: true });
}

/** Committed snapshot ids in the store. */
export async function list(root: string): Promise<string[]> {
  try {
    const names = await readdir(snapshotsRoot(root));
    return names.filter((name) => name !== TMP && ID_PATTERN.test(name)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}
