import { sha256Digest, type Digest } from '../content/digest.ts';
import { distributionImage } from '../image/distribute.ts';
import type { VariantCompression } from '../image/layer-variants.ts';
import { readBlob, writeBlob } from '../content/store.ts';
import { parseImageConfig } from '../image/config.ts';
import { MediaTypes, isIndexMediaType, type MediaTypeFamily, type Platform } from '../image/descriptor.ts';
import { DEFAULT_PLATFORM, parseIndex, selectPlatform } from '../image/image-index.ts';
import { manifestBlobs, manifestMediaType, parseManifest, type ImageManifest } from '../image/manifest.ts';
import { familiarName, formatReference, parseReference, withDefaultTag, type ImageReference } from '../image/reference.ts';
import { findImage, putImage, tagImage, type ImageRecord } from '../image/store.ts';
import { openSession, type RegistrySession } from './auth.ts';
import { getManifest, putManifest, type FetchedManifest } from './client.ts';
import { RegistryError } from './errors.ts';
import type { RegistryOptions } from './hosts.ts';
import { contentSource, downloadBlobs, uploadBlobs, type RegistryStores, type UploadBlob, type UploadOptions } from './transfer.ts';

/**
 * `berth pull` and the FROM fallback: resolve a reference to a manifest (choosing the platform's
 * entry from an OCI index or Docker manifest list), download the config and layers in parallel,
 * verified, into the content store, then record the image and tag it. Blobs come before the
 * record and the record before the tag, so a failed pull leaves no name pointing anywhere new.
 * Layers are unpacked into snapshots later, once, by the build that uses them.
 */

export interface PulledImage {
  /** Normalised reference that was pulled (`docker.io/library/alpine:latest`). */
  name: string;
  /** What the registry resolved the reference to: an index's digest for multi-platform images. */
  digest: Digest;
  /** The platform manifest recorded in the local store (its image digest). */
  manifestDigest: Digest;
  record: ImageRecord;
  manifest: ImageManifest;
}

function platformText(platform: Platform | undefined): string {
  if (!platform) return 'unknown';
  return `${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}`;
}

function looksLikeIndex(fetched: FetchedManifest): boolean {
  if (isIndexMediaType(fetched.mediaType)) return true;
  try {
    return Array.isArray((JSON.parse(fetched.bytes.toString('utf8')) as { manifests?: unknown }).manifests);
  } catch {
    return false;
  }
}

/**
 * Resolves `reference` in `repository` to an image manifest, walking through an index when the
 * registry returns one; stores the documents it read. Shared by pulls and cache imports.
 */
export async function resolveManifest(
  session: RegistrySession, repository: string, reference: string, stores: RegistryStores, platform: Platform = DEFAULT_PLATFORM,
): Promise<{ top: FetchedManifest; image: FetchedManifest; manifest: ImageManifest }> {
  const where = `${session.registry}/${repository}`;
  const top = await getManifest(session, repository, reference);
  session.options.onProgress?.({ kind: 'resolved', digest: top.digest, size: top.bytes.length });
  if (top.mediaType === MediaTypes.dockerManifestV1Signed || top.mediaType === 'application/vnd.docker.distribution.manifest.v1+json') {
    throw new RegistryError(`${where}:${reference} uses Docker image manifest schema 1, which berth (like current Docker) does not support`, 200);
  }
  await writeBlob(stores.content, top.bytes, { digest: top.digest, size: top.bytes.length });
  let image = top;
  if (looksLikeIndex(top)) {
    const index = parseIndex(top.bytes);
    const entry = selectPlatform(index, platform);
    if (!entry) {
      const available = index.manifests.map((m) => platformText(m.platform)).join(', ') || 'none';
      throw new RegistryError(`no manifest for ${platformText(platform)} in ${where}:${reference} (available: ${available})`, 404);
    }
    image = await getManifest(session, repository, entry.digest);
    if (looksLikeIndex(image)) throw new RegistryError(`${where}@${entry.digest} is a nested index, which berth does not follow`, 200);
    await writeBlob(stores.content, image.bytes, { digest: image.digest, size: image.bytes.length });
  }
  let manifest: ImageManifest;
  try {
    manifest = parseManifest(image.bytes);
  } catch (error) {
    throw new RegistryError(`${where}@${image.digest}: ${(error as Error).message}`, 200);
  }
  return { top, image, manifest };
}

/** The reference text to ask the registry for: the digest when there is one, else the tag. */
function remoteReference(ref: ImageReference): string {
  return ref.digest ?? ref.tag!;
}

/**
 * Pulls `ref` (any spelling Docker accepts; `latest` by default) into the local store and tags
 * it (tag references only). Call it from FROM when the local store lacks the image; resolve the
 * result with `resolveImage(stores.images, pulled.manifestDigest)`.
 */
export async function pullImage(stores: RegistryStores, ref: string, options: RegistryOptions = {}): Promise<PulledImage> {
  const parsed = withDefaultTag(parseReference(ref));
  const session = await openSession(parsed.domain, options);
  const { top, image, manifest } = await resolveManifest(session, parsed.path, remoteReference(parsed), stores, options.platform);
  await downloadBlobs(session, parsed.path, stores, manifestBlobs(manifest));

  let config;
  try {
    config = parseImageConfig(await readBlob(stores.content, manifest.config.digest));
  } catch (error) {
    throw new RegistryError(`${formatReference(parsed)}: ${(error as Error).message}`, 200);
  }
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new RegistryError(`${formatReference(parsed)} is inconsistent: its config lists ${config.rootfs.diff_ids.length} layers, its manifest ${manifest.layers.length}`, 200);
  }
  const record = await putImage(stores.images, image.digest);
  // A digest reference names content, not a tag: nothing to point at it (Docker does the same).
  if (parsed.digest === undefined) await tagImage(stores.images, formatReference(parsed), image.digest);
  session.options.onProgress?.({ kind: 'manifest', digest: image.digest, size: image.bytes.length });
  return { name: formatReference(parsed), digest: top.digest, manifestDigest: image.digest, record, manifest };
}

/**
 * `berth push`: every blob first (existence check, then a cross-repository mount or an upload),
 * the manifest last. A push that fails halfway leaves only unreferenced blobs in the registry,
 * never a tag naming blobs that are not there, and a retry skips what already arrived.
 */

export interface PushOptions extends RegistryOptions, UploadOptions {
  /** Local image to push (name, ID or digest); default: the image named `ref` locally. */
  source?: string;
  /** Layer compression on the wire (default gzip, as Docker and BuildKit push). */
  compression?: VariantCompression;
  compressionLevel?: number;
  forceCompression?: boolean;
  /** Media types of the pushed manifest; default: the stored image's own. */
  family?: MediaTypeFamily;
  /** Manifest annotations to add to the pushed manifest (an output's annotation.*). */
  annotations?: Record<string, string>;
}

export interface PushedImage {
  /** Normalised reference pushed to. */
  name: string;
  /** Manifest digest: pull by `name@digest` gets the same bytes. */
  digest: Digest;
  size: number;
  mediaType: string;
  /** Layers that had to be compressed for this push (0 when every form was already stored). */
  compressed: number;
}

/** Uploads `blobs`, then puts the manifest under `reference` (tag or digest). */
export async function pushManifest(
  session: RegistrySession, repository: string, reference: string, manifest: { bytes: Buffer; mediaType: string },
  blobs: UploadBlob[], stores: RegistryStores, options: UploadOptions = {},
): Promise<Digest> {
  await uploadBlobs(session, repository, stores, blobs, options);
  const digest = await putManifest(session, repository, reference, manifest.bytes, manifest.mediaType);
  session.options.onProgress?.({ kind: 'manifest', digest, size: manifest.bytes.length });
  return digest;
}

/** Pushes a local image to the registry `ref` names (`latest` by default). */
export async function pushImage(stores: RegistryStores, ref: string, options: PushOptions = {}): Promise<PushedImage> {
  const parsed = withDefaultTag(parseReference(ref));
  const sourceName = options.source ?? ref;
  const record = await findImage(stores.images, sourceName);
  if (!record) throw new RegistryError(`an image does not exist locally with the name ${familiarName(withDefaultTag(parseReference(sourceName)))}`, 0, undefined, true);
  const stored = parseManifest(await readBlob(stores.content, record.digest));
  const { manifest, bytes, compressed } = await distributionImage(stores, record.digest, {
    compression: options.compression ?? 'gzip', level: options.compressionLevel, force: options.forceCompression, annotations: options.annotations,
    family: options.family ?? (manifestMediaType(stored) === MediaTypes.dockerManifest ? 'docker' : 'oci'),
  });
  const blobs = manifestBlobs(manifest).map((descriptor) => ({ descriptor, source: contentSource(stores.content, descriptor.digest) }));
  const session = await openSession(parsed.domain, options);
  if (parsed.digest !== undefined && parsed.digest !== sha256Digest(bytes)) {
    throw new RegistryError(`cannot push ${record.digest} as ${formatReference(parsed)}: a digest reference must name the pushed manifest's digest`, 0, undefined, true);
  }
  const reference = parsed.digest ?? parsed.tag!;
  const digest = await pushManifest(session, parsed.path, reference, { bytes, mediaType: manifestMediaType(manifest) }, blobs, stores, options);
  return { name: formatReference(parsed), digest, size: bytes.length, mediaType: manifestMediaType(manifest), compressed };
}
