import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { digestHex, parseDigest, type Digest } from '../content/digest.ts';
import { BlobVerifyError, blobPath, hasBlob, writeBlob, writeFileAtomic, type ContentStore } from '../content/store.ts';
import type { ImageStore } from '../image/store.ts';
import type { Descriptor } from '../image/descriptor.ts';
import { storeLayout, type StoreLayout } from '../store/layout.ts';
import type { RegistrySession } from './auth.ts';
import { getBlob, headBlob, startUpload, uploadChunked, uploadMonolithic, type UploadSource } from './client.ts';
import { RegistryError, isRetryable } from './errors.ts';
import { retryDelay } from './http.ts';

/**
 * Moving many blobs between a registry and the content store: in parallel (p-limit), each one
 * verified against its digest and size, each retried as a whole on dropped connections and 5xx
 * (a half-received blob is discarded by the content store, a half-sent upload is abandoned for
 * a fresh session). The first failure stops queued work; the others in flight finish first, so
 * nothing keeps running behind the caller's back.
 */

/** The stores a registry operation touches; the CLI's `Stores` has this shape. */
export interface RegistryStores {
  layout: StoreLayout;
  content: ContentStore;
  images: ImageStore;
}

/** Runs `task` for every item, at most `concurrency` at once; rethrows the first failure. */
export async function forEachLimited<T>(items: readonly T[], concurrency: number, task: (item: T) => Promise<void>): Promise<void> {
  const limit = pLimit(Math.max(1, concurrency));
  let failure: { error: unknown } | undefined;
  await Promise.all(items.map((item) => limit(async () => {
    if (failure) return;
    try {
      await task(item);
    } catch (error) {
      failure ??= { error };
    }
  })));
  if (failure) throw failure.error;
}

async function withRetries<T>(session: RegistrySession, what: () => Promise<T>): Promise<T> {
  const attempts = Math.max(1, session.options.attempts ?? 4);
  for (let attempt = 1; ; attempt++) {
    try {
      return await what();
    } catch (error) {
      const again = isRetryable(error) || error instanceof BlobVerifyError;
      if (!again || attempt >= attempts || session.options.signal?.aborted) throw error;
      await sleep(retryDelay(attempt, session.options.backoffMs ?? 250), undefined, { signal: session.options.signal });
    }
  }
}

/** Downloads one blob into the content store unless it is there; verified by digest and size. */
export async function downloadBlob(session: RegistrySession, repository: string, content: ContentStore, descriptor: Descriptor): Promise<void> {
  const progress = session.options.onProgress;
  if (await hasBlob(content, descriptor.digest)) {
    progress?.({ kind: 'exists', digest: descriptor.digest, size: descriptor.size, mediaType: descriptor.mediaType });
    return;
  }
  progress?.({ kind: 'downloading', digest: descriptor.digest, size: descriptor.size, mediaType: descriptor.mediaType });
  await withRetries(session, async () => {
    const response = await getBlob(session, repository, descriptor.digest);
    try {
      await writeBlob(content, response.body, { digest: descriptor.digest, size: descriptor.size });
    } catch (error) {
      response.body.destroy();
      if (error instanceof BlobVerifyError) {
        throw new BlobVerifyError(`blob ${descriptor.digest} from ${session.registry}/${repository} failed verification: ${error.message}`);
      }
      throw error;
    }
  });
  progress?.({ kind: 'downloaded', digest: descriptor.digest, size: descriptor.size, mediaType: descriptor.mediaType });
}

/** Downloads blobs in parallel and remembers where they came from (for later mounts). */
export async function downloadBlobs(session: RegistrySession, repository: string, stores: RegistryStores, descriptors: readonly Descriptor[]): Promise<void> {
  const unique = [...new Map(descriptors.map((d) => [d.digest, d])).values()];
  await forEachLimited(unique, session.options.concurrency ?? 4, async (descriptor) => {
    await downloadBlob(session, repository, stores.content, descriptor);
    await recordBlobSource(stores.layout.root, descriptor.digest, { registry: session.registry, repository });
  });
}

/** A blob to upload: its descriptor and where its bytes are. */
export interface UploadBlob {
  descriptor: Descriptor;
  source: UploadSource;
}

export function contentSource(content: ContentStore, digest: Digest): UploadSource {
  return { path: blobPath(content, digest) };
}

export interface UploadOptions {
  /** Blobs above this size go up in PATCH chunks of this size (default 64 MiB); 0: always monolithic. */
  chunkSize?: number;
  /** Repositories on the same registry to try mounting from, before the recorded sources. */
  mountFrom?: string[];
  /** Called after each blob is in place (tests interrupt pushes here). */
  afterBlob?: (digest: Digest) => void | Promise<void>;
}

export const DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024;

/** Makes one blob exist in `repository`: already there, mounted, or uploaded. */
export async function uploadBlob(session: RegistrySession, repository: string, stores: RegistryStores, blob: UploadBlob, options: UploadOptions = {}): Promise<void> {
  const { digest, size, mediaType } = blob.descriptor;
  const progress = session.options.onProgress;
  const existing = await headBlob(session, repository, digest);
  if (existing !== undefined) {
    progress?.({ kind: 'exists', digest, size, mediaType });
  } else {
    const recorded = await mountCandidate(stores.layout.root, digest, session.registry, repository);
    const from = [...(options.mountFrom ?? []).filter((r) => r !== repository), ...(recorded ? [recorded] : [])][0];
    await withRetries(session, async () => {
      const started = await startUpload(session, repository, digest, from);
      if (started.mounted) {
        progress?.({ kind: 'mounted', digest, size, mediaType, from });
        return;
      }
      progress?.({ kind: 'uploading', digest, size, mediaType });
      const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
      if (chunkSize > 0 && size > chunkSize) await uploadChunked(session, repository, started.location, digest, size, blob.source, chunkSize);
      else await uploadMonolithic(session, repository, started.location, digest, size, blob.source);
      progress?.({ kind: 'uploaded', digest, size, mediaType });
    });
  }
  if ('path' in blob.source) await recordBlobSource(stores.layout.root, digest, { registry: session.registry, repository });
  await options.afterBlob?.(digest);
}

async function fileExists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

/** Uploads blobs in parallel; all of them are in the repository when this resolves. */
export async function uploadBlobs(session: RegistrySession, repository: string, stores: RegistryStores, blobs: readonly UploadBlob[], options: UploadOptions = {}): Promise<void> {
  const unique = [...new Map(blobs.map((b) => [b.descriptor.digest, b])).values()];
  for (const blob of unique) {
    // A path is a store blob (contentSource) or a packed cache mount (a file under tmp/).
    if ('path' in blob.source && !(await fileExists(blob.source.path))) {
      throw new RegistryError(`cannot push to ${session.registry}/${repository}: blob ${blob.descriptor.digest} is missing from the local store`, 0, undefined, true);
    }
  }
  await forEachLimited(unique, session.options.concurrency ?? 4, (blob) => uploadBlob(session, repository, stores, blob, options));
}

/**
 * Where blobs are known to live remotely: `<root>/registry/sources/<hex>.json` lists the
 * repositories a blob was pulled from or pushed to. A push to another repository on the same
 * registry asks for a cross-repository mount from one of them instead of uploading the bytes
 * again (containerd keeps the same hint as "distribution source" labels). Only a hint: losing
 * an entry to a concurrent writer costs an upload, never correctness.
 */
export interface BlobSource {
  registry: string;
  repository: string;
}

/** Entries kept per blob; the newest win. */
const MAX_SOURCES = 8;

function sourcesFile(root: string, digest: string): string {
  return join(storeLayout(root).registrySources, `${digestHex(parseDigest(digest))}.json`);
}

export async function blobSources(root: string, digest: string): Promise<BlobSource[]> {
  try {
    const parsed = JSON.parse(await readFile(sourcesFile(root, digest), 'utf8')) as unknown;
    if (!Array.isArray(parsed)) return [];
    return parsed.filter((s): s is BlobSource => typeof s?.registry === 'string' && typeof s?.repository === 'string');
  } catch {
    return [];
  }
}

export async function recordBlobSource(root: string, digest: string, source: BlobSource): Promise<void> {
  const existing = await blobSources(root, digest);
  if (existing[0]?.registry === source.registry && existing[0]?.repository === source.repository) return;
  const next = [source, ...existing.filter((s) => s.registry !== source.registry || s.repository !== source.repository)].slice(0, MAX_SOURCES);
  await writeFileAtomic(sourcesFile(root, digest), `${JSON.stringify(next)}\n`);
}

/** A repository on `registry`, other than `repository`, that is known to hold the blob. */
export async function mountCandidate(root: string, digest: string, registry: string, repository: string): Promise<string | undefined> {
  return (await blobSources(root, digest)).find((s) => s.registry === registry && s.repository !== repository)?.repository;
}
