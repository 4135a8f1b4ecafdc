import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { blobPath, deleteBlob, hasBlob, listBlobs, type ContentStore } from '../content/index.ts';
import { listImages, loadResolved, referencedBlobs, type ImageStore } from '../image/store.ts';
import type { StoreLayout } from './layout.ts';
import { listCacheRecords, type CacheRecord } from '../cache/records.ts';
import { chainIdOf } from '../snapshot/snapshots.ts';
import { pruneLineage } from '../copy/reuse.ts';
import { removeStaleLeaseFiles } from '../snapshot/leases.ts';
import { clearParseCache } from './parse-cache.ts';
import { sweepStore } from './sweep.ts';
import { parseVariantName, readVariant } from '../image/layer-variants.ts';

/** What the store holds, for `berth du` and for prune's decisions. */
export interface StoreUsage {
  images: number;
  cacheRecords: number;
  blobs: { count: number; bytes: number; reclaimable: number };
  snapshots: { count: number; bytes: number };
  cacheMounts: { count: number; bytes: number };
  /** What speeds builds up besides layers: context stat caches, COPY lineage, parsed Dockerfiles. */
  metadata: { count: number; bytes: number };
}

/** Directories of the store's small caches (see StoreUsage.metadata). */
const METADATA_DIRS = ['context-cache', 'lineage', 'parse-cache'];

function treeSize(dir: string): number {
  let total = 0;
  const visit = (p: string): void => {
    // A running build may take a snapshot away meanwhile (a rebuilt COPY claims its donor).
    let s;
    let names: string[] = [];
    try {
      s = lstatSync(p);
      if (s.isDirectory()) names = readdirSync(p);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    total += s.isFile() ? s.size : 0;
    for (const n of names) visit(path.join(p, n));
  };
  visit(dir);
  return total;
}

function listDirs(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((n) => !n.startsWith('.') && n !== 'empty') : [];
}

/** Chain ids of every stored image (their snapshots are never pruned) and their diff ids. */
async function imageChains(images: ImageStore, diffIds: Set<string> = new Set()): Promise<Set<string>> {
  const chains = new Set<string>();
  for (const record of await listImages(images)) {
    const image = await loadResolved(images, record);
    let chain: string | undefined;
    for (const diffId of image.config.rootfs.diff_ids) {
      diffIds.add(diffId);
      chain = chainIdOf(chain, diffId);
      chains.add(chain.replace(/^sha256:/, ''));
    }
  }
  return chains;
}

/**
 * Compressed forms of layers (layer-variants/): kept, with their blobs, while a stored image or a
 * remaining cache record has the layer; dropped with it otherwise, so a pruned store never holds
 * a record naming a blob that is gone, nor a variant blob of a layer nothing has.
 */
function keepVariants(layout: StoreLayout, keptDiffIds: ReadonlySet<string>, keepBlobs: Set<string>): void {
  for (const name of listDirs(layout.layerVariants)) {
    const parsed = parseVariantName(name);
    if (!parsed) continue;
    const record = keptDiffIds.has(parsed.diffId) ? readVariant(layout, parsed.diffId, parsed.compression) : undefined;
    if (record) keepBlobs.add(record.digest);
    else rmSync(path.join(layout.layerVariants, name), { force: true });
  }
}

/** Records whose blob is gone (removed by hand, or a prune that stopped halfway). */
async function dropOrphanVariants(layout: StoreLayout, content: ContentStore): Promise<void> {
  for (const name of listDirs(layout.layerVariants)) {
    const parsed = parseVariantName(name);
    if (!parsed) continue;
    const record = readVariant(layout, parsed.diffId, parsed.compression);
    if (!record || !(await hasBlob(content, record.digest))) rmSync(path.join(layout.layerVariants, name), { force: true });
  }
}

export async function storeUsage(layout: StoreLayout, content: ContentStore, images: ImageStore): Promise<StoreUsage> {
  const records = listCacheRecords(layout.cache);
  const needed: Set<string> = await referencedBlobs(images);
  // Compressed forms of the images' layers stay with them (prune keeps them): not reclaimable.
  const diffIds = new Set<string>();
  await imageChains(images, diffIds);
  for (const name of listDirs(layout.layerVariants)) {
    const parsed = parseVariantName(name);
    const record = parsed && diffIds.has(parsed.diffId) ? readVariant(layout, parsed.diffId, parsed.compression) : undefined;
    if (record) needed.add(record.digest);
  }
  let bytes = 0;
  let reclaimable = 0;
  const blobs = await listBlobs(content);
  for (const digest of blobs) {
    const size = statSync(blobPath(content, digest)).size;
    bytes += size;
    if (!needed.has(digest)) reclaimable += size;
  }
  const snapshots = listDirs(layout.snapshots);
  const mounts = listDirs(layout.cacheMounts);
  return {
    images: (await listImages(images)).length,
    cacheRecords: records.length,
    blobs: { count: blobs.length, bytes, reclaimable },
    snapshots: { count: snapshots.length, bytes: snapshots.reduce((n, s) => n + treeSize(path.join(layout.snapshots, s)), 0) },
    cacheMounts: { count: mounts.length, bytes: mounts.reduce((n, s) => n + treeSize(path.join(layout.cacheMounts, s)), 0) },
    metadata: METADATA_DIRS.map((dir) => path.join(layout.root, dir)).reduce((sum, dir) => {
      const names = existsSync(dir) ? readdirSync(dir) : [];
      return { count: sum.count + names.length, bytes: names.reduce((n, name) => n + treeSize(path.join(dir, name)), sum.bytes) };
    }, { count: 0, bytes: 0 }),
  };
}

export interface PruneOptions {
  /** Also drop cache entries whose layers images use, cache mounts, and every snapshot but stored images' layers. */
  all: boolean;
  /** Only entries older than this many milliseconds. */
  untilMs?: number;
  /** Remove oldest entries first until what the cache holds is at most this many bytes. */
  keepBytes?: number;
  now?: number;
}

export interface PruneResult { records: number; blobs: number; snapshots: number; cacheMounts: number; bytes: number }

/**
 * Removes build cache. Never removes a blob a stored image needs: images are the roots. Run it
 * under the store's exclusive lock (src/store/lock.ts) so no build is using what it removes.
 */
export async function prune(layout: StoreLayout, content: ContentStore, images: ImageStore, options: PruneOptions): Promise<PruneResult> {
  const now = options.now ?? Date.now();
  const needed = await referencedBlobs(images);
  const result: PruneResult = { records: 0, blobs: 0, snapshots: 0, cacheMounts: 0, bytes: 0 };
  // Least recently used first; `until` and --keep-storage judge entries by their last use.
  const records = listCacheRecords(layout.cache).sort((a, b) => a.usedAt - b.usedAt);
  const old = (r: { usedAt: number }): boolean => options.untilMs === undefined || now - r.usedAt >= options.untilMs;
  const usedByImage = (r: CacheRecord): boolean => r.layer !== undefined && needed.has(r.layer.blobDigest as never);
  let candidates = records.filter((r) => old(r) && (options.all || !usedByImage(r)));
  if (options.keepBytes !== undefined) {
    let total = records.reduce((n, r) => n + (r.layer?.blobSize ?? 0), 0);
    const keep = options.keepBytes;
    candidates = candidates.filter((r) => {
      if (total <= keep) return false;
      total -= r.layer?.blobSize ?? 0;
      return true;
    });
  }
  const removed = new Set(candidates.map((r) => r.file));
  for (const record of candidates) {
    unlinkSync(record.file);
    result.records++;
  }
  const remaining = records.filter((r) => !removed.has(r.file));
  const keepBlobs = new Set<string>([...needed, ...remaining.flatMap((r) => (r.layer ? [r.layer.blobDigest] : []))]);
  const keptDiffIds = new Set<string>(remaining.flatMap((r) => (r.layer ? [r.layer.diffId] : [])));
  const keepSnapshots = await imageChains(images, keptDiffIds);
  keepVariants(layout, keptDiffIds, keepBlobs);
  for (const digest of await listBlobs(content)) {
    if (keepBlobs.has(digest)) continue;
    result.bytes += statSync(blobPath(content, digest)).size;
    if (await deleteBlob(content, digest)) result.blobs++;
  }
  await dropOrphanVariants(layout, content);
  if (!options.all) for (const r of remaining) if (r.chainId) keepSnapshots.add(r.chainId.replace(/^sha256:/, ''));
  for (const name of listDirs(layout.snapshots)) {
    if (keepSnapshots.has(name)) continue;
    rmSync(path.join(layout.snapshots, name), { recursive: true, force: true });
    result.snapshots++;
  }
  // Lineage hints and lease lock files of snapshots that are gone are dropped with them.
  const liveSnapshots = new Set(listDirs(layout.snapshots));
  pruneLineage(layout, liveSnapshots);
  removeStaleLeaseFiles(layout, liveSnapshots);
  // Parsed Dockerfiles are cheap to make again and pile up with every edit: any prune empties them.
  clearParseCache(layout.root);
  // Git checkouts are a cache of remote commits: any prune drops them.
  rmSync(layout.git, { recursive: true, force: true });
  await dropOrphanSources(layout, content);
  await dropOrphanUrlRecords(layout, content);
  dropOrphanFacts(layout, new Set(remaining.map((r) => r.key.replace(/^sha256:/, ''))));
  sweepStore(layout);
  if (options.all) {
    for (const name of listDirs(layout.cacheMounts)) {
      rmSync(path.join(layout.cacheMounts, name), { recursive: true, force: true });
      result.cacheMounts++;
    }
  }
  return result;
}

/** The names in a store area; none when it was never made. */
function namesIn(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Cache explanations (src/cache/explain.ts) of steps whose record is gone, and slots naming them. */
function dropOrphanFacts(layout: StoreLayout, liveKeys: ReadonlySet<string>): void {
  for (const name of namesIn(layout.explain)) {
    if (name.endsWith('.json') && !liveKeys.has(name.slice(0, -'.json'.length))) rmSync(path.join(layout.explain, name), { force: true });
  }
  const slots = path.join(layout.explain, 'slots');
  for (const slot of namesIn(slots)) {
    let key = '';
    try {
      key = readFileSync(path.join(slots, slot), 'utf8').replace(/^sha256:/, '');
    } catch {
      // Unreadable: dropped below.
    }
    if (!liveKeys.has(key)) rmSync(path.join(slots, slot), { force: true });
  }
}

/** ADD <url> records whose blob is no longer stored. */
async function dropOrphanUrlRecords(layout: StoreLayout, content: ContentStore): Promise<void> {
  for (const name of namesIn(layout.urlCache)) {
    const file = path.join(layout.urlCache, name);
    let digest: unknown;
    try {
      digest = (JSON.parse(readFileSync(file, 'utf8')) as { digest?: unknown }).digest;
    } catch {
      digest = undefined;
    }
    if (typeof digest !== 'string' || !(await hasBlob(content, digest))) rmSync(file, { force: true });
  }
}

/** Mount hints (registry/sources/<hex>.json) of blobs that are no longer stored. */
async function dropOrphanSources(layout: StoreLayout, content: ContentStore): Promise<void> {
  for (const name of namesIn(layout.registrySources)) {
    const m = /^([0-9a-f]{64})\.json$/.exec(name);
    if (m && !(await hasBlob(content, `sha256:${m[1]}`))) rmSync(path.join(layout.registrySources, name), { force: true });
  }
}
