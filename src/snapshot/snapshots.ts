import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { openBlob, type ContentStore } from '../content/index.ts';
import { diffToTar, type ArchiveOptions } from '../layer/diff.ts';
import { storeLayer } from '../layer/store.ts';
import { MediaTypes } from '../image/descriptor.ts';
import { applyTar } from '../layer/apply.ts';
import type { StoreLayout } from '../store/layout.ts';
import { writerName } from '../store/sweep.ts';
import type { SnapshotLeases } from './leases.ts';

/**
 * Build layers are stored uncompressed: hashing a tar is several times faster than gzipping it,
 * and docker load, skopeo, umoci and registries all accept uncompressed OCI layers. Compression is
 * an export concern (push), not a build one.
 */
export const LAYER_MEDIA_TYPE = MediaTypes.ociLayer;

/** A stored layer: its blob, and the diff id its chain of snapshots is named by. */
export interface LayerRef {
  /** Uncompressed digest (the image config's diff_id). */
  diffId: string;
  /** Digest of the blob in the content store. */
  blobDigest: string;
  blobSize: number;
  mediaType: string;
}

/** A layer as a build step sees it: its blob and the snapshot directory holding it unpacked. */
export interface ChainLayer extends LayerRef {
  /** OCI chain id of the stack up to and including this layer: names its snapshot. */
  chainId: string;
}

export function chainIdOf(parentChainId: string | undefined, diffId: string): string {
  if (!parentChainId) return diffId;
  return `sha256:${createHash('sha256').update(`${parentChainId} ${diffId}`).digest('hex')}`;
}

export function snapshotDirOf(layout: StoreLayout, chainId: string): string {
  return path.join(layout.snapshots, chainId.replace(/^sha256:/, ''));
}

/** A fresh temp directory under the store (same file system, so commits are renames). */
export function makeTempDir(layout: StoreLayout, prefix: string): string {
  const dir = path.join(layout.tmp, writerName(prefix));
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Moves a finished directory into place; when another build got there first, ours is dropped.
 * Snapshots are not flushed here (that would cost a sync of the whole file system per step): they
 * are a cache of fsynced blobs, and the store discards them after a reboot (src/store/lock.ts).
 */
export function commitDir(temp: string, final: string): void {
  if (existsSync(final)) {
    rmSync(temp, { recursive: true, force: true });
    return;
  }
  try {
    renameSync(temp, final);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    rmSync(temp, { recursive: true, force: true });
  }
}

/**
 * Turns a step's upper dir into a stored layer: the tar (whiteouts from overlay form) goes into the
 * content store, its digest being the diff id; then the upper dir itself becomes the layer's snapshot.
 * Returns undefined when the step changed nothing (an empty layer, as BuildKit drops them).
 */
export async function commitUpper(
  layout: StoreLayout, store: ContentStore, upperDir: string, parentChainId: string | undefined, leases: SnapshotLeases,
  archive: ArchiveOptions = {},
): Promise<ChainLayer | undefined> {
  if (readdirSync(upperDir).length === 0) {
    rmSync(upperDir, { recursive: true, force: true });
    return undefined;
  }
  const stored = await storeLayer(store, diffToTar(upperDir, archive), { compression: 'none' });
  const chainId = chainIdOf(parentChainId, stored.diffId);
  leases.hold(chainId);
  commitDir(upperDir, snapshotDirOf(layout, chainId));
  return { diffId: stored.diffId, blobDigest: stored.digest, blobSize: stored.size, mediaType: LAYER_MEDIA_TYPE, chainId };
}

/**
 * Makes sure every layer of a chain is unpacked into its snapshot dir (after load or prune, or
 * when a rebuild took it as a donor). With leases, each is held from before it is looked at.
 */
export async function ensureSnapshots(layout: StoreLayout, store: ContentStore, chain: readonly ChainLayer[], leases?: SnapshotLeases): Promise<void> {
  for (const layer of chain) {
    leases?.hold(layer.chainId);
    const final = snapshotDirOf(layout, layer.chainId);
    if (existsSync(final)) continue;
    const temp = makeTempDir(layout, 'unpack');
    try {
      await applyTar(await openBlob(store, layer.blobDigest), temp, { mode: 'overlay', layer: layer.blobDigest });
      commitDir(temp, final);
    } catch (error) {
      rmSync(temp, { recursive: true, force: true });
      throw error;
    }
  }
}

/** Snapshot dirs of a chain, top first, as overlay lower dirs (held until the leases end). */
export function lowerDirsOf(layout: StoreLayout, chain: readonly ChainLayer[], leases: SnapshotLeases): string[] {
  for (const l of chain) leases.hold(l.chainId);
  return chain.map((l) => snapshotDirOf(layout, l.chainId)).reverse();
}

/** An always-empty directory: the lower layer of an empty root file system (FROM scratch). */
export function emptyLowerDir(layout: StoreLayout): string {
  const dir = path.join(layout.snapshots, 'empty');
  mkdirSync(dir, { recursive: true });
  return dir;
}
