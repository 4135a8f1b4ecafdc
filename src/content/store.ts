import { closeSync, createReadStream, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { link, mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { storeLayout } from '../store/layout.ts';
import { writerName } from '../store/sweep.ts';
import { createDigester, digestHex, parseDigest, sha256Digest, type Digest } from './digest.ts';

/**
 * A content-addressed blob store in the OCI image-layout shape: `<root>/blobs/sha256/<hex>`.
 * Blobs are written to `<root>/ingest/` (same file system), hashed while written, fsynced,
 * verified and only then renamed into place, so a reader never sees a half-written blob and a
 * crash leaves at most an ingest file named after its dead writer, which the next build sweeps
 * (src/store/sweep.ts).
 */
export interface ContentStore {
  root: string;
  /** `<blobs>/sha256`, from the store layout. */
  blobDir: string;
  ingestDir: string;
}

export interface BlobInfo {
  digest: Digest;
  size: number;
}

export interface Expected {
  digest?: Digest | string;
  size?: number;
}

export class BlobNotFoundError extends Error {
  readonly digest: string;
  constructor(digest: string) {
    super(`blob ${digest} not found`);
    this.name = 'BlobNotFoundError';
    this.digest = digest;
  }
}

export class BlobVerifyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BlobVerifyError';
  }
}

/** The content store of the store (or OCI image layout) at `root`. */
export function openContentStore(root: string): ContentStore {
  const layout = storeLayout(root);
  return { root, blobDir: join(layout.blobs, 'sha256'), ingestDir: layout.ingest };
}

export function blobPath(store: ContentStore, digest: Digest | string): string {
  return join(store.blobDir, digestHex(parseDigest(digest)));
}

function blobDir(store: ContentStore): string {
  return store.blobDir;
}

function ingestDir(store: ContentStore): string {
  return store.ingestDir;
}

/** fsync a directory so a rename into it survives a crash. */
export async function syncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** An open ingest: write chunks, then commit (verify + rename) or abort. */
export interface BlobWriter {
  write(chunk: Uint8Array): Promise<void>;
  /** Bytes written so far. */
  size(): number;
  commit(expected?: Expected): Promise<BlobInfo>;
  abort(): Promise<void>;
}

export async function openBlobWriter(store: ContentStore): Promise<BlobWriter> {
  await mkdir(ingestDir(store), { recursive: true });
  await mkdir(blobDir(store), { recursive: true });
  const temp = join(ingestDir(store), `${writerName()}.tmp`);
  const handle: FileHandle = await open(temp, 'wx', 0o644);
  const digester = createDigester();
  let closed = false;

  const discard = async () => {
    if (!closed) {
      closed = true;
      await handle.close().catch(() => undefined);
    }
    await unlink(temp).catch(() => undefined);
  };

  return {
    async write(chunk) {
      if (closed) throw new Error('blob writer already committed or aborted');
      digester.update(chunk);
      let offset = 0;
      while (offset < chunk.byteLength) {
        const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset);
        offset += bytesWritten;
      }
    },
    size: () => digester.size(),
    async commit(expected = {}) {
      if (closed) throw new Error('blob writer already committed or aborted');
      const info: BlobInfo = { digest: digester.digest(), size: digester.size() };
      try {
        checkExpected(info, expected);
        await handle.sync();
        closed = true;
        await handle.close();
      } catch (error) {
        await discard();
        throw error;
      }
      const target = blobPath(store, info.digest);
      if (await exists(target)) {
        // Someone committed the same content first: theirs is as good as ours.
        await unlink(temp).catch(() => undefined);
        return info;
      }
      await rename(temp, target);
      await syncDir(blobDir(store));
      return info;
    },
    abort: discard,
  };
}

function checkExpected(info: BlobInfo, expected: Expected): void {
  if (expected.digest !== undefined && parseDigest(expected.digest) !== info.digest) {
    throw new BlobVerifyError(`blob digest mismatch: expected ${expected.digest}, got ${info.digest}`);
  }
  if (expected.size !== undefined && expected.size !== info.size) {
    throw new BlobVerifyError(`blob ${info.digest} size mismatch: expected ${expected.size}, got ${info.size}`);
  }
}

/**
 * Whether a path exists. A synchronous stat: a cached build asks this of every blob it reuses,
 * and one stat is far quicker than an async one's thread-pool round trip.
 */
async function exists(path: string): Promise<boolean> {
  try {
    statSync(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** Anything a blob can be written from. */
export type BlobSource = Uint8Array | string | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array>;

/**
 * Streams `source` into the store; verifies against `expected` when given. Bytes already in memory
 * are hashed first: when the store already holds that digest (a rebuild writing the same config and
 * manifest again), nothing is written or synced at all.
 */
export async function writeBlob(store: ContentStore, source: BlobSource, expected?: Expected): Promise<BlobInfo> {
  if (typeof source === 'string' || source instanceof Uint8Array) {
    const bytes = typeof source === 'string' ? Buffer.from(source) : source;
    const info: BlobInfo = { digest: sha256Digest(bytes), size: bytes.byteLength };
    checkExpected(info, expected ?? {});
    if (await exists(blobPath(store, info.digest))) return info;
    source = bytes;
  }
  const writer = await openBlobWriter(store);
  try {
    if (source instanceof Uint8Array) await writer.write(source);
    else {
      for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
        await writer.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      }
    }
  } catch (error) {
    await writer.abort();
    throw error;
  }
  return writer.commit(expected);
}

export async function hasBlob(store: ContentStore, digest: Digest | string): Promise<boolean> {
  return exists(blobPath(store, digest));
}

/** Size in bytes, or undefined when the blob is absent. */
export async function blobSize(store: ContentStore, digest: Digest | string): Promise<number | undefined> {
  try {
    return (await stat(blobPath(store, digest))).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** A stream of the blob's bytes; errors with BlobNotFoundError when absent. */
export async function openBlob(store: ContentStore, digest: Digest | string): Promise<Readable> {
  const path = blobPath(store, digest);
  if (!(await exists(path))) throw new BlobNotFoundError(digest);
  return createReadStream(path);
}

/**
 * A whole blob in memory: for documents (manifests, configs, indexes, a few kB), so read
 * synchronously, which is several times quicker than the thread-pool round trips of an async
 * read and adds up over the dozen documents a cached build reads. Layers are streamed (openBlob).
 */
export async function readBlob(store: ContentStore, digest: Digest | string): Promise<Buffer> {
  try {
    return readFileSync(blobPath(store, digest));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobNotFoundError(digest);
    throw error;
  }
}

/** Removes a blob; false when it was not there. */
export async function deleteBlob(store: ContentStore, digest: Digest | string): Promise<boolean> {
  try {
    await unlink(blobPath(store, digest));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

export async function listBlobs(store: ContentStore): Promise<Digest[]> {
  let names: string[];
  try {
    names = await readdir(blobDir(store));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return names.filter((name) => /^[a-f0-9]{64}$/.test(name)).sort().map((hex) => `sha256:${hex}` as Digest);
}

/**
 * writeFileAtomic for small files on a synchronous path: temp file beside `path`, fsync, rename.
 * (No fsync of the directory: a crash may lose the new name, never expose a partial file.)
 */
export function writeFileAtomicSync(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = join(dirname(path), `.${writerName()}.tmp`);
  const fd = openSync(temp, 'wx', 0o644);
  try {
    writeFileSync(fd, data);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temp);
    throw error;
  }
  closeSync(fd);
  renameSync(temp, path);
}

/**
 * Replaces `path` with `data` atomically: a temp file beside it, fsync, rename, fsync of the
 * directory. Readers see the old or the new content, never a mix. With `noReplace`, the temp
 * file is linked into place instead (link(2) never replaces): when `path` exists nothing is
 * written and the result is false.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: { mode?: number; noReplace?: boolean } = {}): Promise<boolean> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${writerName()}.tmp`);
  const handle = await open(temp, 'wx', options.mode ?? 0o644);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await handle.close();
  try {
    if (options.noReplace) await link(temp, path);
    else await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    if (options.noReplace && (error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  if (options.noReplace) await unlink(temp);
  await syncDir(dir);
  return true;
}
