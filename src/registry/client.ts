import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { sha256Digest, type Digest } from '../content/digest.ts';
import { MediaTypes } from '../image/descriptor.ts';
import { call, hasCredentials, repositoryScope, type RegistrySession } from './auth.ts';
import { RegistryError, responseError, type RequestContext } from './errors.ts';
import { drain, readBuffer, readText, type HttpResponse } from './http.ts';

/**
 * The endpoints of the OCI distribution spec berth uses: manifests (GET/PUT), blobs (HEAD/GET),
 * and uploads (POST, with `?mount=&from=` for cross-repository mounts; PATCH chunks; PUT with
 * `?digest=` to finish). Each function is one protocol step; pull.ts and push.ts compose them.
 */

/** Everything berth can read, best first, sent as one Accept header. */
export const MANIFEST_ACCEPT = [
  MediaTypes.ociIndex, MediaTypes.dockerManifestList, MediaTypes.ociManifest, MediaTypes.dockerManifest,
].join(', ');

/** Manifests and indexes are small; anything larger is refused rather than buffered. */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
}

const pullScope = (repository: string) => [repositoryScope(repository, ['pull'])];
const pushScope = (repository: string) => [repositoryScope(repository, ['pull', 'push'])];

function ctx(session: RegistrySession, repository: string, what: string): RequestContext {
  return { registry: session.registry, repository, what };
}

async function fail(session: RegistrySession, response: HttpResponse, context: RequestContext): Promise<never> {
  throw responseError(response.status, await readText(response), context, hasCredentials(session));
}

/** `GET /v2/<name>/manifests/<reference>`; checks the bytes against a digest reference. */
export async function getManifest(session: RegistrySession, repository: string, reference: string): Promise<FetchedManifest> {
  const context = ctx(session, repository, `manifest ${reference}`);
  const response = await call(session, {
    method: 'GET', path: `/v2/${repository}/manifests/${reference}`, headers: { accept: MANIFEST_ACCEPT }, scopes: pullScope(repository), context,
  });
  if (response.status !== 200) await fail(session, response, context);
  const bytes = await readBuffer(response, MAX_MANIFEST_SIZE);
  const digest = sha256Digest(bytes);
  if (reference.includes(':') && reference !== digest) {
    throw new RegistryError(`manifest ${reference} from ${session.registry}/${repository} has digest ${digest}: refusing content that does not match its name`, 200);
  }
  const header = response.headers['docker-content-digest'];
  if (typeof header === 'string' && header.startsWith('sha256:') && header !== digest) {
    throw new RegistryError(`manifest ${reference} from ${session.registry}/${repository}: registry says ${header} but the bytes hash to ${digest}`, 200);
  }
  let mediaType = String(response.headers['content-type'] ?? '').split(';')[0].trim();
  // The body's own mediaType is authoritative; some servers answer with a generic content type.
  try {
    const declared = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
    if (typeof declared === 'string') mediaType = declared;
  } catch {
    throw new RegistryError(`manifest ${reference} from ${session.registry}/${repository} is not JSON`, 200);
  }
  return { bytes, mediaType, digest };
}

/** `PUT /v2/<name>/manifests/<reference>`; returns the digest the registry stored. */
export async function putManifest(session: RegistrySession, repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<Digest> {
  const context = ctx(session, repository, `manifest ${reference}`);
  const response = await call(session, {
    method: 'PUT', path: `/v2/${repository}/manifests/${reference}`, body: bytes, scopes: pushScope(repository), context,
    headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
  });
  if (response.status !== 201 && response.status !== 200) await fail(session, response, context);
  drain(response);
  const digest = sha256Digest(bytes);
  const header = response.headers['docker-content-digest'];
  if (typeof header === 'string' && header.startsWith('sha256:') && header !== digest) {
    throw new RegistryError(`${session.registry}/${repository} stored manifest ${reference} as ${header}, but berth sent ${digest}`, response.status);
  }
  return digest;
}

/** `HEAD /v2/<name>/blobs/<digest>`: the stored size, or undefined when absent. */
export async function headBlob(session: RegistrySession, repository: string, digest: Digest): Promise<number | undefined> {
  const context = ctx(session, repository, `blob ${digest}`);
  const response = await call(session, { method: 'HEAD', path: `/v2/${repository}/blobs/${digest}`, scopes: pullScope(repository), context });
  drain(response);
  if (response.status === 404) return undefined;
  if (response.status !== 200) throw responseError(response.status, '', context, hasCredentials(session));
  const size = Number(response.headers['content-length']);
  return Number.isFinite(size) ? size : 0;
}

/** `GET /v2/<name>/blobs/<digest>` (redirects followed): the 200 response, body unread. */
export async function getBlob(session: RegistrySession, repository: string, digest: Digest): Promise<HttpResponse> {
  const context = ctx(session, repository, `blob ${digest}`);
  const response = await call(session, { method: 'GET', path: `/v2/${repository}/blobs/${digest}`, scopes: pullScope(repository), context });
  if (response.status !== 200) await fail(session, response, context);
  return response;
}

/** Where a blob's bytes come from when uploading: a file (ranges read on demand) or a buffer. */
export type UploadSource = { path: string } | { bytes: Buffer };

function readRange(source: UploadSource, start: number, end: number): Readable {
  if ('bytes' in source) return Readable.from([source.bytes.subarray(start, end)]);
  return end > start ? createReadStream(source.path, { start, end: end - 1 }) : Readable.from([]);
}

export type UploadStart = { mounted: true } | { mounted: false; location: URL };

/**
 * `POST /v2/<name>/blobs/uploads/`, optionally as a cross-repository mount. A registry that
 * cannot mount answers 202 with an upload session, which the caller then uses as usual.
 */
export async function startUpload(session: RegistrySession, repository: string, digest: Digest, mountFrom?: string): Promise<UploadStart> {
  const context = ctx(session, repository, `upload of ${digest}`);
  const query = mountFrom ? `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(mountFrom)}` : '';
  const scopes = [...pushScope(repository), ...(mountFrom ? pullScope(mountFrom) : [])];
  const response = await call(session, {
    method: 'POST', path: `/v2/${repository}/blobs/uploads/${query}`, scopes, context, headers: { 'content-length': '0' }, body: Buffer.alloc(0),
  });
  if (response.status === 201 && mountFrom) {
    drain(response);
    return { mounted: true };
  }
  if (response.status !== 202) await fail(session, response, context);
  drain(response);
  return { mounted: false, location: locationOf(session, response, context) };
}

function locationOf(session: RegistrySession, response: HttpResponse, context: RequestContext): URL {
  const location = response.headers.location;
  if (!location) throw new RegistryError(`${context.what} in ${session.registry}/${context.repository}: registry sent no upload location`, response.status);
  return new URL(location, response.url);
}

function withDigest(location: URL, digest: Digest): URL {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url;
}

/** Finishes an upload with the whole blob in one `PUT ?digest=`. */
export async function uploadMonolithic(session: RegistrySession, repository: string, location: URL, digest: Digest, size: number, source: UploadSource): Promise<void> {
  const context = ctx(session, repository, `upload of ${digest}`);
  const response = await call(session, {
    method: 'PUT', path: withDigest(location, digest), scopes: pushScope(repository), context, attempts: 1,
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body: () => readRange(source, 0, size),
  });
  if (response.status !== 201) await fail(session, response, context);
  drain(response);
}

/**
 * Uploads in `chunkSize` pieces: `PATCH` with `Content-Range: start-end` (inclusive), following
 * the Location each answer gives, then an empty `PUT ?digest=` to finish.
 */
export async function uploadChunked(
  session: RegistrySession, repository: string, start: URL, digest: Digest, size: number, source: UploadSource, chunkSize: number,
): Promise<void> {
  const context = ctx(session, repository, `upload of ${digest}`);
  let location = start;
  for (let offset = 0; offset < size; offset += chunkSize) {
    const end = Math.min(size, offset + chunkSize);
    const response = await call(session, {
      method: 'PATCH', path: location, scopes: pushScope(repository), context, attempts: 1,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(end - offset), 'content-range': `${offset}-${end - 1}` },
      body: () => readRange(source, offset, end),
    });
    if (response.status !== 202) await fail(session, response, context);
    drain(response);
    location = locationOf(session, response, context);
  }
  const response = await call(session, {
    method: 'PUT', path: withDigest(location, digest), scopes: pushScope(repository), context, attempts: 1,
    headers: { 'content-length': '0' }, body: Buffer.alloc(0),
  });
  if (response.status !== 201) await fail(session, response, context);
  drain(response);
}
