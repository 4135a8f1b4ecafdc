import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import type { Digest } from '../content/digest.ts';
import { writeBlob } from '../content/store.ts';
import { openDecompressed } from '../layer/compression.ts';
import { storeLayer, type StoredLayer } from '../layer/store.ts';
import { InvalidImageError, checkHistory, newImageConfig, rfc3339, withLayer, type ContainerConfig, type ImageConfig } from './config.ts';
import { MediaTypes, encodeDocument, layerMediaType, type Descriptor, type MediaTypeFamily } from './descriptor.ts';
import { buildManifest, type ImageManifest } from './manifest.ts';
import { putImage, tagImage, type ImageRecord, type ImageStore } from './store.ts';

/**
 * Config + layers → stored, tagged image. The config and manifest are serialised canonically, so
 * the same layers and config always give the same manifest digest; nothing here reads the clock
 * unless the caller leaves `created` out of an import.
 */
export interface LayerInput {
  digest: Digest;
  size: number;
  /** Layer media type, or the compression to derive it from. */
  mediaType?: string;
  compression?: StoredLayer['compression'];
  /** When given, checked against the config's rootfs.diff_ids. */
  diffId?: Digest;
  annotations?: Record<string, string>;
}

export interface WriteImageOptions {
  /** Media-type family for the manifest and config (default OCI). */
  family?: MediaTypeFamily;
  /** Names to tag the image with (normalised; `latest` by default). */
  names?: string[];
  annotations?: Record<string, string>;
}

export interface WrittenImage {
  record: ImageRecord;
  manifest: ImageManifest;
  /** Descriptor of the manifest blob (digest = image digest). */
  descriptor: Descriptor;
  config: Descriptor;
}

function layerDescriptor(layer: LayerInput, family: MediaTypeFamily): Descriptor {
  const mediaType = layer.mediaType ?? layerMediaType(layer.compression ?? 'gzip', family);
  return { mediaType, digest: layer.digest, size: layer.size, ...(layer.annotations ? { annotations: layer.annotations } : {}) };
}

/** Stores config and manifest blobs for `layers` (already in the content store) and records the image. */
export async function writeImage(store: ImageStore, config: ImageConfig, layers: LayerInput[], options: WriteImageOptions = {}): Promise<WrittenImage> {
  const family = options.family ?? 'oci';
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== layers.length) {
    throw new InvalidImageError(`config lists ${diffIds.length} diff_ids for ${layers.length} layers`);
  }
  layers.forEach((layer, i) => {
    if (layer.diffId !== undefined && layer.diffId !== diffIds[i]) {
      throw new InvalidImageError(`layer ${i} has diff_id ${layer.diffId} but the config says ${diffIds[i]}`);
    }
  });
  checkHistory(config);
  const configDoc = encodeDocument(family === 'docker' ? MediaTypes.dockerConfig : MediaTypes.ociConfig, config);
  await writeBlob(store.content, configDoc.bytes, configDoc.descriptor);
  return writeManifestFor(store, configDoc.descriptor, layers.map((layer) => layerDescriptor(layer, family)), options);
}

/**
 * The manifest half of writeImage, for a config blob already stored byte for byte (an image
 * loaded from an archive keeps its config bytes, so its image ID stays Docker's).
 */
export async function writeManifestFor(
  store: ImageStore,
  config: Descriptor,
  layers: Descriptor[],
  options: WriteImageOptions = {},
): Promise<WrittenImage> {
  const manifest = buildManifest(config, layers, options.family ?? 'oci', options.annotations);
  const manifestDoc = encodeDocument(manifest.mediaType!, manifest);
  await writeBlob(store.content, manifestDoc.bytes, manifestDoc.descriptor);
  const record = await putImage(store, manifestDoc.descriptor.digest);
  for (const name of options.names ?? []) await tagImage(store, name, record.digest);
  return { record, manifest, descriptor: manifestDoc.descriptor, config: manifest.config };
}

export interface ImportOptions {
  /** RFC 3339 creation time; defaults to now (pass one for reproducible digests). */
  created?: string;
  config?: ContainerConfig;
  /** History comment; Docker writes `Imported from -` for stdin. */
  comment?: string;
  family?: MediaTypeFamily;
}

/**
 * `docker import`: a rootfs tarball (plain, gzip or zstd) becomes a one-layer image. The layer is
 * stored gzip-compressed whatever it came as, so every import looks alike downstream.
 */
export async function importRootfs(store: ImageStore, tarFile: string | Readable, name: string | undefined, options: ImportOptions = {}): Promise<WrittenImage> {
  const { stream } = await openDecompressed(typeof tarFile === 'string' ? createReadStream(tarFile) : tarFile);
  const layer = await storeLayer(store.content, stream, { compression: 'gzip' });
  const created = options.created ?? rfc3339(new Date());
  const config = withLayer(newImageConfig({ created, config: options.config ?? {} }), layer.diffId, {
    created,
    comment: options.comment ?? `Imported from ${typeof tarFile === 'string' ? basename(tarFile) : '-'}`,
  });
  return writeImage(store, config, [layer], { family: options.family, names: name === undefined ? [] : [name] });
}
