import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDigestTap, type Digest } from '../content/digest.ts';
import { openBlobWriter, writeBlob, type BlobInfo, type ContentStore } from '../content/store.ts';
import { compressor, openDecompressed } from './compression.ts';

/**
 * Layer tar → content store. One pass: the uncompressed tar is hashed on its way into the
 * compressor (diff_id) and the compressed bytes are hashed on their way into the store (the
 * blob digest the manifest names).
 */
export interface StoredLayer {
  /** Digest of the stored (compressed) blob. */
  digest: Digest;
  /** Stored blob size in bytes. */
  size: number;
  /** Digest of the uncompressed tar (config `rootfs.diff_ids`). */
  diffId: Digest;
  /** Uncompressed tar size in bytes. */
  uncompressedSize: number;
  compression: 'none' | 'gzip' | 'zstd';
}

export interface StoreLayerOptions {
  /** How to store it (default gzip, what Docker and every registry accept). */
  compression?: 'none' | 'gzip' | 'zstd';
}

/** Stores an uncompressed tar stream (e.g. from diffToTar) as a layer blob. */
export async function storeLayer(
  content: ContentStore,
  tar: Readable | AsyncIterable<Uint8Array>,
  options: StoreLayerOptions = {},
): Promise<StoredLayer> {
  const compression = options.compression ?? 'gzip';
  const tap = createDigestTap();
  const source = tar instanceof Readable ? tar : Readable.from(tar, { objectMode: false });
  let blob: BlobInfo | undefined;
  const sink = async (bytes: AsyncIterable<Uint8Array>) => {
    blob = await writeBlob(content, bytes);
  };
  if (compression === 'none') {
    // Stored as is, the blob is the tar: its digest is the diff id, and hashing twice would cost
    // a second pass over every byte.
    await pipeline(source, sink);
    return { digest: blob!.digest, size: blob!.size, diffId: blob!.digest, uncompressedSize: blob!.size, compression };
  }
  await pipeline(source, tap.stream, compressor(compression), sink);
  const uncompressed = tap.result();
  return { digest: blob!.digest, size: blob!.size, diffId: uncompressed.digest, uncompressedSize: uncompressed.size, compression };
}

/**
 * Stores a layer that may already be compressed (a rootfs tarball, a layer from an archive)
 * exactly as given, and reports its diff_id by decompressing on the side.
 */
export async function storeLayerAsIs(content: ContentStore, source: Readable | AsyncIterable<Uint8Array>): Promise<StoredLayer> {
  const writer = await openBlobWriter(content);
  // The raw bytes go to the store; a copy feeds the decompressor that measures the diff_id.
  const copy = new PassThrough();
  copy.on('error', () => undefined); // Reported through `measured`.
  const measured = (async () => {
    const { compression, stream } = await openDecompressed(copy);
    const tap = createDigestTap();
    await pipeline(stream, tap.stream, async (bytes: AsyncIterable<Uint8Array>) => {
      for await (const _ of bytes);
    });
    return { compression, ...tap.result() };
  })();
  // Resolves never; rejects as soon as measuring fails, so a stalled copy cannot hang us.
  const measureFailed = measured.then(() => new Promise<never>(() => undefined));
  // Both are awaited (or raced) only on some paths; a failure is reported through `measured`.
  measureFailed.catch(() => undefined);
  measured.catch(() => undefined);
  try {
    for await (const chunk of source) {
      await writer.write(chunk);
      if (!copy.write(chunk)) await Promise.race([once(copy, 'drain'), measureFailed]);
    }
    copy.end();
    const uncompressed = await measured;
    if (uncompressed.compression !== 'none' && uncompressed.compression !== 'gzip' && uncompressed.compression !== 'zstd') {
      throw new Error(`unexpected layer compression ${uncompressed.compression}`);
    }
    const blob = await writer.commit();
    return { digest: blob.digest, size: blob.size, diffId: uncompressed.digest, uncompressedSize: uncompressed.size, compression: uncompressed.compression };
  } catch (error) {
    copy.destroy();
    await writer.abort();
    throw error;
  }
}
