/**
 * Cache mounts that travel (issue 18): the `RUN --mount=type=cache` directories a build names,
 * packed as gzip tar layers to go with its `--cache-to`, and unpacked from a `--cache-from` into
 * a store that has none of them yet.
 *
 * - Only cache mounts: the plan's `type=cache` mounts are the only directories read, so a secret
 *   (a file the helper makes per run, never under cache-mounts/) cannot be in a packed layer.
 * - Read under the mount's own lock, taken shared: a `sharing=locked` user (who holds it
 *   exclusively) is never read half-way; `shared` users may write on, as they may beside others.
 * - A restore never replaces a warm cache: it happens only while the directory is absent or empty,
 *   under the lock taken exclusively (nobody has it mounted), by one rename of a fully unpacked
 *   directory (rename(2) replaces an empty directory atomically and refuses a filled one).
 * - Mounts seeded `from=` another stage are keyed by that stage's result and left out.
 */
import { chmodSync, chownSync, closeSync, createWriteStream, lstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDigestTap } from '../content/digest.ts';
import { MediaTypes, type Descriptor } from '../image/descriptor.ts';
import { applyTar, compressor, dirToTar, ReservedNameError } from '../layer/index.ts';
import type { BuildPlan } from '../plan/index.ts';
import {
  CACHE_MOUNT_ID_ANNOTATION, CACHE_MOUNT_NAME_ANNOTATION, CACHE_MOUNT_ROOT_ANNOTATION, CACHE_MOUNT_SIZE_ANNOTATION, type CacheMountBlob,
} from '../registry/cache-spec.ts';
import { makeTempDir } from '../snapshot/snapshots.ts';
import type { StoreLayout } from '../store/layout.ts';
import { fsExtra, LOCK_EX, LOCK_SH, LOCK_UN } from '../sys/fsx.ts';
import { formatSize } from '../text/units.ts';
import { cacheName, lockPath } from './cache-mounts.ts';

/** One cache directory a plan names: the id it goes by and its directory under cache-mounts/. */
export interface PlannedCacheMount {
  id: string;
  name: string;
}

/**
 * The cache mounts the plan's RUN steps use (an id named by several steps once), restricted to
 * `ids` when given; `seeded` lists the ids left out for their `from=`.
 */
export function planCacheMounts(plan: BuildPlan, ids?: readonly string[]): { mounts: PlannedCacheMount[]; seeded: string[] } {
  const mounts = new Map<string, PlannedCacheMount>();
  const seeded = new Set<string>();
  for (const vertex of plan.vertices) {
    if (vertex.op.kind !== 'run') continue;
    for (const m of vertex.op.mounts) {
      if (m.type !== 'cache') continue;
      const id = m.id ?? m.target;
      if (ids && !ids.includes(id)) continue;
      if (m.from) seeded.add(id);
      else {
        const name = cacheName(id, undefined, m);
        mounts.set(name, { id, name });
      }
    }
  }
  return { mounts: [...mounts.values()], seeded: [...seeded] };
}

/** Bytes of the regular files under `dir`, counted until they pass `limit` (then any larger number). */
export function filesSize(dir: string, limit = Infinity): number {
  let total = 0;
  const visit = (p: string): void => {
    for (const dirent of readdirSync(p, { withFileTypes: true })) {
      if (total > limit) return;
      const child = path.join(p, dirent.name);
      if (dirent.isDirectory()) visit(child);
      else if (dirent.isFile()) total += lstatSync(child).size;
    }
  };
  visit(dir);
  return total;
}

function isEmptyOrAbsent(dir: string): boolean {
  try {
    return readdirSync(dir).length === 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw error;
  }
}

/** Holds cache `name`'s lock (shared or exclusive) for `fn`; undefined when it stayed taken past `waitMs`. */
async function underLock<T>(
  layout: StoreLayout, name: string, operation: number, waitMs: number, onWait: () => void, fn: () => Promise<T>,
): Promise<T | undefined> {
  mkdirSync(layout.locks, { recursive: true });
  const fd = openSync(lockPath(layout, name), 'a');
  try {
    const deadline = Date.now() + waitMs;
    let waited = false;
    while (!fsExtra().flock(fd, operation)) {
      if (Date.now() >= deadline) return undefined;
      if (!waited) onWait();
      waited = true;
      await sleep(100);
    }
    try {
      return await fn();
    } finally {
      fsExtra().flock(fd, LOCK_UN);
    }
  } finally {
    closeSync(fd);
  }
}

export interface PackOptions {
  maxBytes: number;
  /** How long to wait for a `sharing=locked` user to finish (default 60 s), then skip the mount. */
  lockWaitMs?: number;
  log(message: string): void;
  warn(message: string): void;
}

export interface PackedCacheMounts {
  blobs: CacheMountBlob[];
  /** Removes the packed files (call when the export is done, or failed). */
  cleanup(): void;
}

async function packOne(dir: string, mount: PlannedCacheMount, bytes: number, file: string): Promise<CacheMountBlob> {
  const blob = createDigestTap();
  await pipeline(dirToTar(dir), compressor('gzip'), blob.stream, createWriteStream(file, { mode: 0o600 }));
  const { digest, size } = blob.result();
  const root = lstatSync(dir);
  const annotations = {
    [CACHE_MOUNT_ID_ANNOTATION]: mount.id,
    [CACHE_MOUNT_NAME_ANNOTATION]: mount.name,
    [CACHE_MOUNT_ROOT_ANNOTATION]: `${root.uid}:${root.gid}:${(root.mode & 0o7777).toString(8)}`,
    [CACHE_MOUNT_SIZE_ANNOTATION]: String(bytes),
  };
  return { descriptor: { mediaType: MediaTypes.ociLayerGzip, digest, size, annotations }, path: file };
}

/**
 * Packs each of `mounts` that holds anything into a gzip tar under the store's tmp/ (swept if we
 * are killed); a mount over `maxBytes`, or one a locked user keeps past the wait, is skipped with
 * a warning.
 */
export async function packCacheMounts(layout: StoreLayout, mounts: readonly PlannedCacheMount[], options: PackOptions): Promise<PackedCacheMounts> {
  const temp = makeTempDir(layout, 'cache-export');
  const cleanup = () => rmSync(temp, { recursive: true, force: true });
  const blobs: CacheMountBlob[] = [];
  try {
    for (const mount of mounts) {
      const dir = path.join(layout.cacheMounts, mount.name);
      const packed = await underLock(layout, mount.name, LOCK_SH, options.lockWaitMs ?? 60_000,
        () => options.log(`cache mount ${mount.id}: waiting for the build using it (sharing=locked)`), async () => {
          if (isEmptyOrAbsent(dir)) return 'empty' as const;
          const bytes = filesSize(dir, options.maxBytes);
          if (bytes > options.maxBytes) return 'too big' as const;
          try {
            return await packOne(dir, mount, bytes, path.join(temp, `${mount.name}.tar.gz`));
          } catch (error) {
            if (error instanceof ReservedNameError) return error;
            throw error;
          }
        });
      if (packed === undefined) options.warn(`cache mount ${mount.id} not exported: still in use by another build (sharing=locked)`);
      else if (packed === 'too big') options.warn(`cache mount ${mount.id} not exported: over cache-mounts-max-size=${formatSize(options.maxBytes)}`);
      else if (packed instanceof ReservedNameError) options.warn(`cache mount ${mount.id} not exported: ${packed.message}`);
      else if (packed !== 'empty') blobs.push(packed);
    }
  } catch (error) {
    cleanup();
    throw error;
  }
  return { blobs, cleanup };
}

export interface RestoreOptions {
  maxBytes: number;
  ids?: readonly string[];
  log(message: string): void;
  warn(message: string): void;
  /** The layer's bytes, fetched and verified by the caller (src/registry/cache.ts fetchCacheBlob). */
  fetch(layer: Descriptor): Promise<Readable>;
  /** After a fetched layer was unpacked, or failed to be: the caller drops what it fetched. */
  done(layer: Descriptor): Promise<void>;
}

const NAME = /^[0-9a-f]{32}$/;
const ROOT = /^(\d+):(\d+):([0-7]{1,4})$/;

/** Why `layer` is not to be restored (`warn` for what the user should hear of), or undefined when it is. */
function skipReason(layout: StoreLayout, layer: Descriptor, options: RestoreOptions): { reason: string; warn: boolean } | undefined {
  const a = layer.annotations ?? {};
  const id = a[CACHE_MOUNT_ID_ANNOTATION];
  if (options.ids && !options.ids.includes(id)) return { reason: 'not in cache-mount-ids', warn: false };
  const name = a[CACHE_MOUNT_NAME_ANNOTATION] ?? '';
  // The name becomes a path: anything but berth's hex names is refused.
  if (!NAME.test(name) || !ROOT.test(a[CACHE_MOUNT_ROOT_ANNOTATION] ?? '')) return { reason: 'its annotations are not berth\'s', warn: true };
  // The blob's own size bounds the download even where the annotation understates the files.
  const bytes = Math.max(Number(a[CACHE_MOUNT_SIZE_ANNOTATION]), layer.size);
  if (!(bytes <= options.maxBytes)) return { reason: `${formatSize(bytes)} is over cache-mounts-max-size=${formatSize(options.maxBytes)}`, warn: true };
  if (!isEmptyOrAbsent(path.join(layout.cacheMounts, name))) return { reason: 'warm here already', warn: false };
  return undefined;
}

/** Unpacks one layer into a temp directory and renames it into place: 'warm' when the place filled meanwhile. */
async function unpackInto(layout: StoreLayout, layer: Descriptor, dir: string, options: RestoreOptions): Promise<'restored' | 'warm'> {
  const a = layer.annotations!;
  const [, uid, gid, mode] = ROOT.exec(a[CACHE_MOUNT_ROOT_ANNOTATION])!;
  const temp = makeTempDir(layout, 'cache');
  try {
    await applyTar(await options.fetch(layer), temp, { mode: 'plain', layer: `cache mount ${a[CACHE_MOUNT_ID_ANNOTATION]}` });
    chownSync(temp, Number(uid), Number(gid));
    chmodSync(temp, parseInt(mode, 8));
    mkdirSync(layout.cacheMounts, { recursive: true });
    renameSync(temp, dir);
    return 'restored';
  } catch (error) {
    rmSync(temp, { recursive: true, force: true });
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return 'warm';
    throw error;
  } finally {
    await options.done(layer);
  }
}

/**
 * Restores the cache mount layers of an imported cache whose directories are absent or empty
 * here; the number restored. A mount in use right now (its lock taken) is left alone.
 */
export async function restoreCacheMounts(layout: StoreLayout, layers: readonly Descriptor[], options: RestoreOptions): Promise<number> {
  let restored = 0;
  for (const layer of layers) {
    const id = layer.annotations?.[CACHE_MOUNT_ID_ANNOTATION] ?? '?';
    const skip = skipReason(layout, layer, options);
    if (skip) {
      (skip.warn ? options.warn : options.log)(`cache mount ${id} not restored: ${skip.reason}`);
      continue;
    }
    const name = layer.annotations![CACHE_MOUNT_NAME_ANNOTATION];
    const dir = path.join(layout.cacheMounts, name);
    const outcome = await underLock(layout, name, LOCK_EX, 0, () => undefined, async () => {
      if (!isEmptyOrAbsent(dir)) return 'warm' as const;
      return unpackInto(layout, layer, dir, options);
    });
    if (outcome === undefined) options.log(`cache mount ${id} not restored: in use by a running build`);
    else if (outcome === 'warm') options.log(`cache mount ${id} not restored: warm here already`);
    else {
      restored++;
      options.log(`restored cache mount ${id} (${formatSize(Number(layer.annotations![CACHE_MOUNT_SIZE_ANNOTATION]))})`);
    }
  }
  return restored;
}
