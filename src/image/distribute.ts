import type { Digest } from '../content/digest.ts';
import { readBlob, writeBlob, type ContentStore } from '../content/store.ts';
import type { StoreLayout } from '../store/layout.ts';
import { parseImageConfig } from './config.ts';
import { MediaTypes, encodeDocument, isNondistributable, layerMediaType, layerMediaTypeIn, type Descriptor, type MediaTypeFamily } from './descriptor.ts';
import { layerBlob, type LayerWant, type VariantCompression } from './layer-variants.ts';
import { buildManifest, manifestMediaType, parseManifest, type ImageManifest } from './manifest.ts';

/**
 * The image as it leaves the store: a push or an archive wants compressed layers and one
 * media-type family throughout, the store keeps layers uncompressed and OCI-typed. This writes
 * the manifest of the outgoing form (same config, layers in the wanted compression from
 * layer-variants.ts) into the content store and returns it; the stored image is not changed.
 * When nothing needs changing, the stored manifest's own bytes go out, so an image pulled and
 * pushed back keeps its digest.
 */
export interface DistributionOptions {
  compression: VariantCompression;
  level?: number;
  force?: boolean;
  family: MediaTypeFamily;
  /** Manifest annotations to add (over the stored manifest's own). */
  annotations?: Record<string, string>;
  /** Called once for each layer this call had to compress (pushes report it). */
  onCompress?: (diffId: Digest, compression: VariantCompression) => void;
  chunkSize?: number;
  concurrency?: number;
}

export interface DistributionImage {
  manifest: ImageManifest;
  bytes: Buffer;
  descriptor: Descriptor;
  /** Layers compressed by this call. */
  compressed: number;
}

interface DistributionStores {
  layout: StoreLayout;
  content: ContentStore;
}

function familyOf(manifest: ImageManifest): MediaTypeFamily {
  return manifestMediaType(manifest) === MediaTypes.dockerManifest ? 'docker' : 'oci';
}

function sameLayers(a: Descriptor[], b: Descriptor[]): boolean {
  return a.length === b.length && a.every((l, i) => l.digest === b[i].digest && l.mediaType === b[i].mediaType && l.size === b[i].size);
}

function sameRecord(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ak = Object.keys(a ?? {});
  return ak.length === Object.keys(b ?? {}).length && ak.every((k) => a![k] === b?.[k]);
}

/** The manifest of `manifestDigest` with its layers as `options` want them; stored, not tagged. */
export async function distributionImage(stores: DistributionStores, manifestDigest: Digest, options: DistributionOptions): Promise<DistributionImage> {
  const bytes = await readBlob(stores.content, manifestDigest);
  const manifest = parseManifest(bytes);
  const config = parseImageConfig(await readBlob(stores.content, manifest.config.digest));
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) throw new Error(`image ${manifestDigest} lists ${diffIds.length} diff_ids for ${manifest.layers.length} layers`);
  const want: LayerWant = { compression: options.compression, level: options.level, force: options.force, chunkSize: options.chunkSize, concurrency: options.concurrency };
  let compressed = 0;
  const layers: Descriptor[] = [];
  // One layer at a time: each already uses every core, and memory stays bounded.
  for (const [i, layer] of manifest.layers.entries()) {
    if (isNondistributable(layer.mediaType) || layer.urls?.length) {
      layers.push({ ...layer, mediaType: layerMediaTypeIn(layer.mediaType, options.family) });
      continue;
    }
    const blob = await layerBlob(stores, { diffId: diffIds[i], digest: layer.digest, size: layer.size }, want);
    if (blob.made) {
      compressed++;
      options.onCompress?.(diffIds[i], blob.compression);
    }
    layers.push({
      mediaType: layerMediaType(blob.compression, options.family), digest: blob.digest, size: blob.size,
      ...(layer.annotations ? { annotations: layer.annotations } : {}),
    });
  }
  const annotations = options.annotations ? { ...manifest.annotations, ...options.annotations } : manifest.annotations;
  if (familyOf(manifest) === options.family && sameLayers(manifest.layers, layers) && sameRecord(manifest.annotations, annotations)) {
    return { manifest, bytes, descriptor: { mediaType: manifestMediaType(manifest), digest: manifestDigest, size: bytes.length }, compressed };
  }
  const out = buildManifest(manifest.config, layers, options.family, annotations);
  const doc = encodeDocument(out.mediaType!, out);
  await writeBlob(stores.content, doc.bytes, doc.descriptor);
  return { manifest: out, bytes: doc.bytes, descriptor: doc.descriptor, compressed };
}
