import { isDigest } from '../content/digest.ts';
import { InvalidImageError } from './config.ts';
import { MediaTypes, isManifestMediaType, type Descriptor, type MediaTypeFamily } from './descriptor.ts';

/**
 * OCI image-spec `manifest.md` and Docker's v2 schema 2 manifest (the same shape under other
 * media types): one config descriptor and the layer descriptors, base layer first.
 */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** The manifest for a config and layers, in the chosen media-type family. */
export function buildManifest(
  config: Descriptor,
  layers: Descriptor[],
  family: MediaTypeFamily = 'oci',
  annotations?: Record<string, string>,
): ImageManifest {
  return {
    schemaVersion: 2,
    mediaType: family === 'docker' ? MediaTypes.dockerManifest : MediaTypes.ociManifest,
    config: { ...config, mediaType: family === 'docker' ? MediaTypes.dockerConfig : MediaTypes.ociConfig },
    layers: layers.map((layer) => ({ ...layer })),
    ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
}

/** The media type a manifest says it has (OCI allows leaving the field out). */
export function manifestMediaType(manifest: ImageManifest): string {
  return manifest.mediaType ?? MediaTypes.ociManifest;
}

/** Checks a value is a well-formed descriptor; `where` names it in errors. */
export function checkDescriptor(value: unknown, where: string): Descriptor {
  const descriptor = value as Partial<Descriptor> | null;
  if (!descriptor || typeof descriptor !== 'object') throw new InvalidImageError(`${where}: not a descriptor`);
  if (typeof descriptor.mediaType !== 'string') throw new InvalidImageError(`${where}: descriptor has no mediaType`);
  if (!isDigest(descriptor.digest)) throw new InvalidImageError(`${where}: descriptor digest ${String(descriptor.digest)} is not a sha256 digest`);
  if (typeof descriptor.size !== 'number' || !Number.isSafeInteger(descriptor.size) || descriptor.size < 0) {
    throw new InvalidImageError(`${where}: descriptor size is not a non-negative integer`);
  }
  return descriptor as Descriptor;
}

export function parseJsonDocument(bytes: Buffer | string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString());
  } catch (error) {
    throw new InvalidImageError(`${what} is not JSON: ${(error as Error).message}`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new InvalidImageError(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/** Parses and checks a manifest (OCI or Docker v2 schema 2). */
export function parseManifest(bytes: Buffer | string): ImageManifest {
  const value = parseJsonDocument(bytes, 'manifest');
  if (value.schemaVersion !== 2) throw new InvalidImageError(`manifest schemaVersion ${String(value.schemaVersion)} is not supported`);
  if (value.mediaType !== undefined && !isManifestMediaType(value.mediaType as string)) {
    throw new InvalidImageError(`not an image manifest: media type ${String(value.mediaType)}`);
  }
  checkDescriptor(value.config, 'manifest config');
  if (!Array.isArray(value.layers)) throw new InvalidImageError('manifest layers is not a list');
  value.layers.forEach((layer, i) => checkDescriptor(layer, `manifest layer ${i}`));
  return value as unknown as ImageManifest;
}

/** Every blob a manifest needs: its config and its layers. */
export function manifestBlobs(manifest: ImageManifest): Descriptor[] {
  return [manifest.config, ...manifest.layers];
}
