import { closeSync, createReadStream, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createDigester, digestHex, isDigest, type Digest } from '../content/digest.ts';
import { blobPath, hasBlob, openBlobWriter, writeBlob, writeFileAtomic, type ContentStore } from '../content/store.ts';
import { openDecompressed, sniffCompression } from '../layer/compression.ts';
import { compressParallel, effectiveLevel } from '../layer/parallel-compress.ts';
import { BuildError } from '../source/error.ts';
import type { StoreLayout } from '../store/layout.ts';

/**
 * Compressed forms of layers. The store keeps a built layer uncompressed (its digest is its diff
 * id); pushes and archives want it gzip or zstd. Compressing is a stage of its own, run when an
 * output first needs a form, and its result is a content-addressed blob plus a small record
 * `layer-variants/<diff-id hex>.<compression>.json` naming it, so the next push or save of the
 * layer finds the blob instead of compressing again. A pulled layer is recorded as the form it
 * came in, so it goes back to a registry as the very blob it came as.
 */
export type VariantCompression = 'none' | 'gzip' | 'zstd';

/** A `compression=` value as BuildKit spells it; `where` names the flag in the error. */
export function parseCompression(value: string, where = 'in --output'): VariantCompression {
  if (value === 'gzip' || value === 'zstd') return value;
  if (value === 'uncompressed') return 'none';
  throw new BuildError(`invalid compression "${value}" ${where} (gzip, zstd or uncompressed)`);
}

/** A `compression-level=` value, checked against the compression's range. */
export function parseLevel(value: string, compression: VariantCompression | undefined, where = 'in --output'): number {
  const level = Number(value);
  try {
    if (value.trim() === '' || !Number.isInteger(level)) throw new RangeError('a whole number');
    if (compression !== 'none') effectiveLevel(compression ?? 'gzip', level);
  } catch (error) {
    throw new BuildError(`invalid compression-level "${value}" ${where}: ${(error as Error).message}`);
  }
  return level;
}

export interface VariantRecord {
  diffId: Digest;
  compression: VariantCompression;
  /** The level berth compressed at; absent for a blob that came from elsewhere (a pull, a load). */
  level?: number;
  digest: Digest;
  size: number;
}

export interface LayerWant {
  compression: VariantCompression;
  level?: number;
  /** Compress again even when the blob already has the wanted compression (BuildKit's force-compression). */
  force?: boolean;
  chunkSize?: number;
  concurrency?: number;
}

/** A layer as an image has it: its blob and its diff id. */
export interface LayerSource {
  diffId: Digest;
  digest: Digest;
  size: number;
}

export interface LayerBlob {
  digest: Digest;
  size: number;
  compression: VariantCompression;
  /** True when this call compressed (or decompressed) the layer. */
  made: boolean;
}

interface VariantStores {
  layout: StoreLayout;
  content: ContentStore;
}

function recordPath(layout: StoreLayout, diffId: Digest, compression: VariantCompression): string {
  return join(layout.layerVariants, `${digestHex(diffId)}.${compression}.json`);
}

/** The record for a diff id and compression, when there is a well-formed one. */
export function readVariant(layout: StoreLayout, diffId: Digest, compression: VariantCompression): VariantRecord | undefined {
  try {
    const value = JSON.parse(readFileSync(recordPath(layout, diffId, compression), 'utf8')) as Partial<VariantRecord>;
    if (value.diffId !== diffId || value.compression !== compression || !isDigest(value.digest) || typeof value.size !== 'number') return undefined;
    return value as VariantRecord;
  } catch {
    return undefined;
  }
}

async function writeVariant(layout: StoreLayout, record: VariantRecord): Promise<void> {
  await writeFileAtomic(recordPath(layout, record.diffId, record.compression), `${JSON.stringify(record)}\n`);
}

/** A record's file name back to its diff id and compression; undefined for anything else. */
export function parseVariantName(name: string): { diffId: Digest; compression: VariantCompression } | undefined {
  const m = /^([0-9a-f]{64})\.(none|gzip|zstd)\.json$/.exec(name);
  return m ? { diffId: `sha256:${m[1]}`, compression: m[2] as VariantCompression } : undefined;
}

/** What a stored blob is compressed with, from its first bytes (a media type may say otherwise). */
export function blobCompression(content: ContentStore, digest: Digest): ReturnType<typeof sniffCompression> {
  const fd = openSync(blobPath(content, digest), 'r');
  try {
    const head = Buffer.alloc(6);
    const n = readSync(fd, head, 0, 6, 0);
    return sniffCompression(head.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

/** Yields `source` while hashing it, and checks at the end that it is the layer's diff id. */
async function* checkedAs(source: Readable, diffId: Digest): AsyncGenerator<Uint8Array> {
  const digester = createDigester();
  for await (const chunk of source as AsyncIterable<Uint8Array>) {
    digester.update(chunk);
    yield chunk;
  }
  const got = digester.digest();
  if (got !== diffId) throw new Error(`layer ${diffId} decompressed to content with digest ${got}`);
}

/** The layer's uncompressed tar, from whatever form its blob has. */
async function uncompressedStream(content: ContentStore, layer: LayerSource): Promise<Readable> {
  return (await openDecompressed(createReadStream(blobPath(content, layer.digest)))).stream;
}

/**
 * Compresses (or decompresses) the layer into a new blob; the record is written by the caller.
 * An uncompressed blob is read as it is: its name is its digest, checked when it was stored, so
 * hashing it again would only cost the main thread a pass over the layer.
 */
async function makeVariant(
  content: ContentStore, layer: LayerSource, have: string, want: LayerWant, level: number | undefined,
): Promise<{ digest: Digest; size: number }> {
  const source = have === 'none' && layer.digest === layer.diffId
    ? createReadStream(blobPath(content, layer.digest), { highWaterMark: 1024 * 1024 })
    : checkedAs(await uncompressedStream(content, layer), layer.diffId);
  if (want.compression === 'none') return writeBlob(content, source, { digest: layer.diffId });
  const writer = await openBlobWriter(content);
  try {
    for await (const piece of compressParallel(source, { compression: want.compression, level, chunkSize: want.chunkSize, concurrency: want.concurrency })) {
      await writer.write(piece);
    }
  } catch (error) {
    await writer.abort();
    throw error;
  }
  return writer.commit();
}

/**
 * The layer's blob in the wanted compression: the blob itself when it already is (unless forced),
 * a recorded variant when there is one, else a new one made now and recorded.
 */
export async function layerBlob(stores: VariantStores, layer: LayerSource, want: LayerWant): Promise<LayerBlob> {
  const have = blobCompression(stores.content, layer.digest);
  const level = want.compression === 'none' ? undefined : effectiveLevel(want.compression, want.level);
  if (have === 'none' || have === 'gzip' || have === 'zstd') {
    // Remembered so a layer that also exists in another form can be found in this one later.
    if (!readVariant(stores.layout, layer.diffId, have)) {
      await writeVariant(stores.layout, { diffId: layer.diffId, compression: have, digest: layer.digest, size: layer.size });
    }
    if (have === want.compression && (!want.force || have === 'none')) return { digest: layer.digest, size: layer.size, compression: have, made: false };
  }
  const recorded = readVariant(stores.layout, layer.diffId, want.compression);
  if (recorded && (!want.force || want.compression === 'none' || recorded.level === level) && (await hasBlob(stores.content, recorded.digest))) {
    return { digest: recorded.digest, size: recorded.size, compression: want.compression, made: false };
  }
  const made = await makeVariant(stores.content, layer, have, want, level);
  await writeVariant(stores.layout, { diffId: layer.diffId, compression: want.compression, ...(level === undefined ? {} : { level }), digest: made.digest, size: made.size });
  return { digest: made.digest, size: made.size, compression: want.compression, made: true };
}
