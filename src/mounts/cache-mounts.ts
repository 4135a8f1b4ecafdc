/**
 * RUN --mount=type=cache: directories under `<root>/cache-mounts/` that outlive builds, one per id
 * (and per `from` seed), never part of an image or a cache key's contents.
 *
 * Sharing, as BuildKit has it:
 * - shared: everyone uses the one directory at once;
 * - locked: one user at a time. The lock is a file under `<root>/locks/` that the sandbox helper
 *   flock(2)s before the container starts and holds until it is gone, so builds in this process,
 *   other processes and killed builds all behave (the kernel drops a dead holder's lock). Shared
 *   users take the same lock shared, so a locked user never overlaps anyone;
 * - private: a directory per concurrent user. Slot i is claimed by an owner file naming our pid
 *   (made by link(2), atomic); a claim whose pid is gone is stale and taken over. Slot 0 is the
 *   shared directory (taken like a shared user), so a lone private user sees the shared cache.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync, chownSync, copyFileSync, existsSync, fsyncSync, linkSync, lchownSync, lutimesSync, mkdirSync,
  openSync, closeSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeSync,
} from 'node:fs';
import path from 'node:path';
import type { RunMount } from '../plan/index.ts';
import type { LockSpec } from '../exec/index.ts';
import type { StoreLayout } from '../store/layout.ts';
import { makeTempDir } from '../snapshot/snapshots.ts';
import type { SourceEntry, SourceTree } from '../copy/source-tree.ts';
import { pidAlive } from '../sys/process.ts';

/** What a cache mount starts from when it is new: a directory of another stage or image. */
export interface CacheSeed {
  tree: SourceTree;
  entry: SourceEntry;
  /** Identity of the seed (stage or image key plus path): different seeds are different caches. */
  key: string;
}

/** A cache directory in use by one RUN: mount `dir`, pass `locks` to the helper, then `release()`. */
export interface CacheLease {
  dir: string;
  locks: LockSpec[];
  release(): void;
}

/**
 * Name of a cache's directory; the id alone when there is no seed and no owner (as before either
 * existed). A mount giving any of uid, gid or mode is another cache than the same id with other
 * ones, or none: BuildKit bases such a cache on a directory made with them, and keys it by that
 * (Docker 20.10 and 26; `uid=0` and `uid=0,gid=0,mode=0755` are the same one).
 */
export function cacheName(id: string, seedKey?: string, owner?: Pick<RunMount, 'uid' | 'gid' | 'mode'>): string {
  let text = seedKey === undefined ? id : `${id}\0${seedKey}`;
  if (owner && (owner.uid !== undefined || owner.gid !== undefined || owner.mode !== undefined)) {
    text += `\0owner ${owner.uid ?? 0}:${owner.gid ?? 0}:${(owner.mode ?? 0o755).toString(8)}`;
  }
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

/**
 * Copies `entries` (parents first, paths relative to a tree root) to `dest`, keeping paths below
 * `baseRel`, owners, modes and times. With `hardlink`, regular files are linked instead of copied
 * where the file system allows (a read-only view of the context needs no copy of its bytes).
 */
export function copyEntries(entries: readonly SourceEntry[], baseRel: string, dest: string, hardlink = false): void {
  const dirs: Array<{ file: string; entry: SourceEntry }> = [];
  for (const entry of entries) {
    const rel = path.posix.relative(baseRel, entry.rel);
    const file = rel ? path.join(dest, rel) : dest;
    const s = entry.stat;
    if (s.isDirectory()) {
      mkdirSync(file, { recursive: true });
      chownSync(file, s.uid, s.gid);
      chmodSync(file, s.mode & 0o7777);
      dirs.push({ file, entry });
    } else if (s.isSymbolicLink()) {
      symlinkSync(readlinkSync(entry.hostPath), file);
      lchownSync(file, s.uid, s.gid);
      lutimesSync(file, s.atime, s.mtime);
    } else if (s.isFile()) {
      if (hardlink && tryLink(entry.hostPath, file)) continue;
      copyFileSync(entry.hostPath, file);
      chownSync(file, s.uid, s.gid);
      chmodSync(file, s.mode & 0o7777);
      utimesSync(file, s.atime, s.mtime);
    }
    // Devices, fifos and sockets are left out: nothing a build reads through a mount needs them.
  }
  for (const { file, entry } of dirs.reverse()) utimesSync(file, entry.stat.atime, entry.stat.mtime);
}

function tryLink(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch {
    return false; // another file system (EXDEV) or a protected file: copy instead
  }
}

/**
 * The directory `name` under cache-mounts, made when missing: owned and moded per the mount's
 * uid/gid/mode (BuildKit's defaults 0:0 0755), or a copy of the seed. Made under a temp name and
 * renamed into place, so a half-made cache is never seen; a concurrent maker's copy wins.
 */
function ensureCacheDir(layout: StoreLayout, name: string, m: RunMount, seed?: CacheSeed): string {
  const dir = path.join(layout.cacheMounts, name);
  if (existsSync(dir)) return dir;
  mkdirSync(layout.cacheMounts, { recursive: true });
  const temp = makeTempDir(layout, 'cache');
  try {
    if (seed) {
      copyEntries(seed.tree.walk(seed.entry), seed.entry.rel, temp);
    } else {
      chownSync(temp, m.uid ?? 0, m.gid ?? 0);
      chmodSync(temp, m.mode ?? 0o755);
    }
    renameSync(temp, dir);
  } catch (error) {
    rmSync(temp, { recursive: true, force: true });
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
  }
  return dir;
}

/** Tries to claim `owner` for this process: true when we hold it now. */
function claim(layout: StoreLayout, owner: string): boolean {
  const temp = path.join(layout.tmp, `owner-${process.pid}-${path.basename(owner)}`);
  const fd = openSync(temp, 'w', 0o644);
  try {
    writeSync(fd, String(process.pid));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(temp, owner);
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      let holder = NaN;
      try {
        holder = Number(readFileSync(owner, 'utf8'));
      } catch {
        continue; // released meanwhile: try again
      }
      if (Number.isInteger(holder) && holder > 0 && pidAlive(holder)) return false;
      try {
        unlinkSync(owner); // the holder died without releasing
      } catch {
        // someone else cleaned it up first
      }
    }
    return false;
  } finally {
    unlinkSync(temp);
  }
}

/** The flock(2) file of cache `name`: its users hold it while they run, exporters while they read. */
export function lockPath(layout: StoreLayout, name: string): string {
  return path.join(layout.locks, `cache-${name}.lock`);
}

/** Takes the cache directory a `type=cache` mount uses for one run. */
export function leaseCacheMount(layout: StoreLayout, m: RunMount, seed?: CacheSeed): CacheLease {
  const name = cacheName(m.id ?? m.target, seed?.key, seed ? undefined : m);
  mkdirSync(layout.locks, { recursive: true });
  if (m.sharing !== 'private') {
    return {
      dir: ensureCacheDir(layout, name, m, seed),
      locks: [{ path: lockPath(layout, name), shared: m.sharing !== 'locked' }],
      release: () => {},
    };
  }
  for (let slot = 0; ; slot++) {
    const owner = path.join(layout.locks, `cache-${name}.${slot}.owner`);
    if (!claim(layout, owner)) continue;
    try {
      const dir = ensureCacheDir(layout, slot === 0 ? name : `${name}.${slot}`, m, seed);
      // Slot 0 is the shared directory: to locked users it is one more shared user.
      const locks = slot === 0 ? [{ path: lockPath(layout, name), shared: true }] : [];
      return { dir, locks, release: () => rmSync(owner, { force: true }) };
    } catch (error) {
      rmSync(owner, { force: true });
      throw error;
    }
  }
}

/**
 * The helper takes locks in order: sorted, one per file, exclusive winning over shared (two
 * mounts of one locked cache in a RUN must not wait for each other).
 */
export function mergeLocks(locks: readonly LockSpec[]): LockSpec[] {
  const byPath = new Map<string, LockSpec>();
  for (const lock of locks) {
    const seen = byPath.get(lock.path);
    byPath.set(lock.path, { path: lock.path, shared: (seen?.shared ?? true) && lock.shared });
  }
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
