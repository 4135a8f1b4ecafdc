import { sha256Digest, type Digest } from '../content/digest.ts';

/**
 * OCI image-spec `descriptor.md` and `media-types.md`, plus the Docker v2 schema 2 media types
 * that Docker, registries and `docker save` still use. Plain data; no behaviour beyond building
 * and checking values.
 */

export const MediaTypes = {
  ociDescriptor: 'application/vnd.oci.descriptor.v1+json',
  ociLayoutHeader: 'application/vnd.oci.layout.header.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',

  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestV1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerZstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export type MediaType = (typeof MediaTypes)[keyof typeof MediaTypes];

/** Which family of media types an image is written with. */
export type MediaTypeFamily = 'oci' | 'docker';

export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

/** Annotations berth reads and writes (OCI `annotations.md` and containerd's name key). */
export const Annotations = {
  refName: 'org.opencontainers.image.ref.name',
  created: 'org.opencontainers.image.created',
  containerdName: 'io.containerd.image.name',
} as const;

export type LayerCompression = 'none' | 'gzip' | 'zstd';

/** The layer media type for a compression, in OCI or Docker spelling. */
export function layerMediaType(compression: LayerCompression, family: MediaTypeFamily = 'oci'): string {
  if (family === 'docker') {
    return compression === 'gzip' ? MediaTypes.dockerLayerGzip : compression === 'zstd' ? MediaTypes.dockerLayerZstd : MediaTypes.dockerLayer;
  }
  return compression === 'gzip' ? MediaTypes.ociLayerGzip : compression === 'zstd' ? MediaTypes.ociLayerZstd : MediaTypes.ociLayer;
}

export function isManifestMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaTypes.ociManifest || mediaType === MediaTypes.dockerManifest;
}

export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaTypes.ociIndex || mediaType === MediaTypes.dockerManifestList;
}

/**
 * JSON with object keys sorted at every level and no whitespace: the same value always gives
 * the same bytes, hence the same digest. (Arrays keep their order; it carries meaning.)
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const child = (value as Record<string, unknown>)[key];
      if (child !== undefined) out[key] = sortKeys(child);
    }
    return out;
  }
  return value;
}

/** Serialises a document canonically and describes the bytes. */
export function encodeDocument(mediaType: string, value: unknown): { bytes: Buffer; descriptor: Descriptor } {
  const bytes = Buffer.from(canonicalJson(value));
  return { bytes, descriptor: { mediaType, digest: sha256Digest(bytes), size: bytes.length } };
}

/** Docker layer media types and their OCI equivalents (the blob is the same either way). */
const LAYER_TYPE_PAIRS: Array<[docker: string, oci: string]> = [
  [MediaTypes.dockerLayer, MediaTypes.ociLayer],
  [MediaTypes.dockerLayerGzip, MediaTypes.ociLayerGzip],
  [MediaTypes.dockerLayerZstd, MediaTypes.ociLayerZstd],
  [MediaTypes.dockerForeignLayerGzip, MediaTypes.ociLayerNondistributableGzip],
];

/**
 * A layer media type in the other family's spelling, so one manifest never mixes them (umoci
 * rejects a Docker layer type in an OCI manifest, skopeo cannot convert one). Unknown types
 * (artifacts, nondistributable ones with no Docker twin) are left as they are.
 */
export function layerMediaTypeIn(mediaType: string, family: MediaTypeFamily): string {
  const pair = LAYER_TYPE_PAIRS.find(([docker, oci]) => docker === mediaType || oci === mediaType);
  if (!pair) return mediaType;
  return family === 'docker' ? pair[0] : pair[1];
}

/** Whether a layer is one that must not be pushed (foreign / nondistributable). */
export function isNondistributable(mediaType: string): boolean {
  return mediaType.includes('.foreign.') || mediaType.includes('.nondistributable.');
}
