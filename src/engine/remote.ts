import { lstatSync } from 'node:fs';
import path from 'node:path';
import { blobPath, hasBlob, writeBlob, type ContentStore } from '../content/index.ts';
import type { RemoteFile } from './source-tree.ts';

/**
 * ADD <url>: the file is downloaded into the content store (so its digest is its name and the
 * cache key of the step), checked against `--checksum=sha256:<hex>` when given, and named after
 * the URL path's last element (`__unnamed__` when there is none, as BuildKit). With a checksum whose
 * content is already stored, nothing is fetched. A server's Last-Modified becomes the file's mtime.
 */
export class RemoteError extends Error {}

const CHECKSUM = /^sha256:[0-9a-f]{64}$/;

/** The destination file name BuildKit derives from a URL. */
export function urlFileName(url: string): string {
  let pathname: string;
  try {
    pathname = decodeURIComponent(new URL(url).pathname);
  } catch {
    return '__unnamed__';
  }
  const base = path.posix.basename(path.posix.normalize(pathname || '/'));
  return base === '' || base === '.' || base === '/' ? '__unnamed__' : base;
}

function remoteFile(content: ContentStore, url: string, digest: string, mtime: Date | undefined): RemoteFile {
  const hostPath = blobPath(content, digest);
  const name = urlFileName(url);
  return { url, digest, name, mtime, entry: { rel: name, hostPath, stat: lstatSync(hostPath) } };
}

export interface DownloadOptions {
  content: ContentStore;
  /** `sha256:<hex>` the content must have. */
  checksum?: string;
  signal?: AbortSignal;
}

export async function downloadUrl(url: string, options: DownloadOptions): Promise<RemoteFile> {
  const { content, checksum } = options;
  if (checksum !== undefined && !CHECKSUM.test(checksum)) {
    throw new RemoteError(`invalid checksum ${JSON.stringify(checksum)}: expected sha256:<64 hex digits>`);
  }
  if (checksum !== undefined && (await hasBlob(content, checksum))) return remoteFile(content, url, checksum, undefined);
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'follow', signal: options.signal });
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message;
    throw new RemoteError(`failed to download ${url}: ${cause ?? (error as Error).message}`);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel().catch(() => undefined);
    throw new RemoteError(`failed to download ${url}: invalid response status ${response.status}`);
  }
  let digest: string;
  try {
    digest = (await writeBlob(content, response.body as AsyncIterable<Uint8Array>)).digest;
  } catch (error) {
    throw new RemoteError(`failed to download ${url}: ${(error as Error).message}`);
  }
  if (checksum !== undefined && digest !== checksum) {
    throw new RemoteError(`digest mismatch for ${url}: expected ${checksum}, got ${digest}`);
  }
  const lastModified = response.headers.get('last-modified');
  const time = lastModified ? new Date(lastModified) : undefined;
  return remoteFile(content, url, digest, time && !Number.isNaN(time.getTime()) ? time : undefined);
}
