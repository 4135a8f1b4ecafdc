import { InvalidImageError } from './config.ts';
import { MediaTypes, isIndexMediaType, type Descriptor, type MediaTypeFamily, type Platform } from './descriptor.ts';
import { checkDescriptor, parseJsonDocument } from './manifest.ts';

/**
 * OCI image-spec `image-index.md` (and Docker's manifest list, the same shape) plus
 * `image-layout.md`: the `oci-layout` marker file and the `index.json` that lists a layout's
 * (or an archive's) manifests, named by annotations.
 */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** Contents of the `oci-layout` file. */
export interface OciLayout {
  imageLayoutVersion: '1.0.0';
}

export const OCI_LAYOUT: OciLayout = { imageLayoutVersion: '1.0.0' };

/** The platform berth builds for and picks from multi-platform indexes. */
export const DEFAULT_PLATFORM: Platform = { architecture: 'amd64', os: 'linux' };

export function buildIndex(manifests: Descriptor[], family: MediaTypeFamily = 'oci', annotations?: Record<string, string>): ImageIndex {
  return {
    schemaVersion: 2,
    mediaType: family === 'docker' ? MediaTypes.dockerManifestList : MediaTypes.ociIndex,
    manifests: manifests.map((manifest) => ({ ...manifest })),
    ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
}

export function parseIndex(bytes: Buffer | string): ImageIndex {
  const value = parseJsonDocument(bytes, 'image index');
  if (value.schemaVersion !== 2) throw new InvalidImageError(`image index schemaVersion ${String(value.schemaVersion)} is not supported`);
  if (value.mediaType !== undefined && !isIndexMediaType(value.mediaType as string)) {
    throw new InvalidImageError(`not an image index: media type ${String(value.mediaType)}`);
  }
  if (!Array.isArray(value.manifests)) throw new InvalidImageError('image index manifests is not a list');
  value.manifests.forEach((manifest, i) => checkDescriptor(manifest, `image index entry ${i}`));
  return value as unknown as ImageIndex;
}

function platformMatches(candidate: Platform | undefined, wanted: Platform): boolean {
  if (!candidate) return false;
  if (candidate.os !== wanted.os || candidate.architecture !== wanted.architecture) return false;
  return wanted.variant === undefined || candidate.variant === undefined || candidate.variant === wanted.variant;
}

/**
 * The entry of a multi-platform index to use: the one for `platform`, else (for single-entry
 * indexes with no platform, as archives write them) the only one. Attestation manifests
 * (platform unknown/unknown) never match.
 */
export function selectPlatform(index: ImageIndex, platform: Platform = DEFAULT_PLATFORM): Descriptor | undefined {
  const match = index.manifests.find((entry) => platformMatches(entry.platform, platform));
  if (match) return match;
  const unplatformed = index.manifests.filter((entry) => entry.platform === undefined);
  return unplatformed.length === 1 ? unplatformed[0] : undefined;
}
