/**
 * SOURCE_DATE_EPOCH's `rewrite-timestamp=true` (BuildKit's exporter option): every member of a
 * layer newer than the epoch gets the epoch as its time, so two builds of the same sources give
 * the same layers byte for byte, whenever and by whomever (root or rootless) they ran.
 *
 * Done at export, on the layer blobs, as BuildKit does: the cache and the snapshots keep the
 * layers as built. A layer with nothing newer than the epoch (a base image's, usually) is left
 * as the very blob it is, since re-packing a foreign tar would change its bytes for nothing.
 */
import { createReadStream } from 'node:fs';
import type { Digest } from '../content/digest.ts';
import { blobPath, type ContentStore } from '../content/index.ts';
import { openDecompressed } from './compression.ts';
import { storeLayer, type StoredLayer } from './store.ts';
import { packTar, readTar, type TarMember } from './tar-io.ts';

async function entriesOf(content: ContentStore, blob: Digest) {
  const { stream } = await openDecompressed(createReadStream(blobPath(content, blob)));
  return readTar(stream);
}

/** Whether any member of the layer is newer than `epoch` (seconds). */
export async function hasMemberNewerThan(content: ContentStore, blob: Digest, epoch: number): Promise<boolean> {
  for await (const { header } of await entriesOf(content, blob)) {
    if (header.mtime > epoch) return true;
  }
  return false;
}

/** The layer with every time after `epoch` set to it, stored uncompressed like built layers. */
export async function clampLayerTimes(content: ContentStore, blob: Digest, epoch: number): Promise<StoredLayer> {
  const entries = await entriesOf(content, blob);
  async function* clamped(): AsyncGenerator<TarMember> {
    for await (const { header, body } of entries) {
      yield { header: { ...header, mtime: header.mtime > epoch ? epoch : header.mtime }, body };
    }
  }
  return storeLayer(content, packTar(clamped()), { compression: 'none' });
}

/**
 * SOURCE_DATE_EPOCH as BuildKit reads it (a build arg, which buildx fills from the environment):
 * whole seconds since 1970; undefined when not given.
 */
export function parseSourceDateEpoch(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value)) throw new Error(`invalid SOURCE_DATE_EPOCH "${value}": whole seconds since 1970 expected`);
  return Number(value);
}
