import { isDigest, type Digest } from '../content/digest.ts';
import { hasBlob, openBlob, readBlob, writeBlob } from '../content/store.ts';
import { MediaTypes, encodeDocument, isIndexMediaType, layerMediaType, type Descriptor } from '../image/descriptor.ts';
import { parseManifest, type ImageManifest } from '../image/manifest.ts';
import { formatReference, parseReference, withDefaultTag } from '../image/reference.ts';
import { readCacheRecord, writeCacheRecord, type CacheRecord } from '../cache/records.ts';
import { createReadStream } from 'node:fs';
import { layerBlob, type LayerWant } from '../image/layer-variants.ts';
import { isCacheMountLayer, type CacheLocation, type CacheMode, type CacheMountBlob } from './cache-spec.ts';
import { openSession } from './auth.ts';
import { getManifest } from './client.ts';
import { RegistryError } from './errors.ts';
import type { RegistryOptions } from './hosts.ts';
import { findLayoutRef, openLayoutBlob, readLayoutBlob, readLayoutIndex, setLayoutRef, writeLayoutBlob } from './oci-layout.ts';
import { pushManifest } from './images.ts';
import { contentSource, downloadBlob, downloadBlobs, forEachLimited, type RegistryStores } from './transfer.ts';

export {
  parseCacheSpec, isCacheMountLayer, DEFAULT_CACHE_MOUNTS_MAX_BYTES, CACHE_MOUNT_ID_ANNOTATION, CACHE_MOUNT_NAME_ANNOTATION,
  CACHE_MOUNT_ROOT_ANNOTATION, CACHE_MOUNT_SIZE_ANNOTATION, type CacheMountBlob, type CacheLocation, type CacheMode, type CacheMountOptions, type CacheSpec,
} from './cache-spec.ts';

/**
 * The build cache shared through a registry or an OCI layout directory. A cache export is an
 * OCI image manifest whose config blob is the JSON list of cache records (`{key, layer?,
 * createdAt}`, as src/cache/records.ts keeps them) and whose layers are the blobs those
 * records name. Import fetches it, stores the blobs (verified), and only then writes the records,
 * so a record never points at a layer this store lacks; records already present locally win.
 */

export const CACHE_CONFIG_MEDIA_TYPE = 'application/vnd.berth.cache.config.v1+json';
export const CACHE_MODE_ANNOTATION = 'io.berth.cache.mode';
export const CACHE_DIFFID_ANNOTATION = 'io.berth.cache.diffid';

function toLocation(ref: string | CacheLocation): CacheLocation {
  return typeof ref === 'string' ? { type: 'registry', ref } : ref;
}

const KEY = /^sha256:[a-f0-9]{64}$/;

/** Checks one record from a cache document; keys become file names, so they are checked strictly. */
function checkRecord(value: unknown): CacheRecord | undefined {
  const record = value as Partial<CacheRecord> | null;
  if (!record || typeof record !== 'object' || typeof record.key !== 'string' || !KEY.test(record.key)) return undefined;
  if (typeof record.createdAt !== 'string') return undefined;
  // Chain ids derive from diff ids alone, so they hold on every machine.
  if (record.parentChainId !== undefined && record.parentChainId !== '' && !isDigest(record.parentChainId)) return undefined;
  if (record.chainId !== undefined && !isDigest(record.chainId)) return undefined;
  const chains = {
    ...(record.parentChainId !== undefined ? { parentChainId: record.parentChainId } : {}),
    ...(record.chainId !== undefined ? { chainId: record.chainId } : {}),
  };
  const layer = record.layer;
  if (layer !== undefined) {
    if (!layer || !isDigest(layer.diffId) || !isDigest(layer.blobDigest) || typeof layer.mediaType !== 'string') return undefined;
    if (!Number.isSafeInteger(layer.blobSize) || layer.blobSize < 0) return undefined;
    return { key: record.key, createdAt: record.createdAt, ...chains, layer: { diffId: layer.diffId, blobDigest: layer.blobDigest, blobSize: layer.blobSize, mediaType: layer.mediaType } };
  }
  return { key: record.key, createdAt: record.createdAt, ...chains };
}

export function parseCacheRecords(bytes: Buffer): CacheRecord[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new Error(`cache config is not JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new Error('cache config is not a list of cache records');
  return parsed.map(checkRecord).filter((r): r is CacheRecord => r !== undefined);
}

export interface CacheDocument {
  config: { bytes: Buffer; descriptor: Descriptor };
  manifest: { bytes: Buffer; descriptor: Descriptor };
  /** The records' layers (the manifest lists the cache mounts after them). */
  layers: Descriptor[];
  records: CacheRecord[];
}

/**
 * A record's layer as the export sends it: in the wanted compression (made and remembered by
 * layer-variants.ts, so a second export compresses nothing), the record naming that blob, as the
 * importing store will hold it. Without `want`, the blob as stored.
 */
async function exportedLayer(stores: RegistryStores, layer: NonNullable<CacheRecord['layer']>, want: LayerWant | undefined): Promise<NonNullable<CacheRecord['layer']>> {
  if (!want) return layer;
  const blob = await layerBlob(stores, { diffId: layer.diffId as Digest, digest: layer.blobDigest as Digest, size: layer.blobSize }, want);
  return { diffId: layer.diffId, blobDigest: blob.digest, blobSize: blob.size, mediaType: layerMediaType(blob.compression, 'oci') };
}

/** The manifest and config of a cache export; records whose blob this store lacks are left out. */
export async function buildCacheDocument(
  stores: RegistryStores, records: readonly CacheRecord[], mode: CacheMode, want?: LayerWant, cacheMounts: readonly Descriptor[] = [],
): Promise<CacheDocument> {
  const kept: CacheRecord[] = [];
  const layers = new Map<string, Descriptor>();
  for (const stored of [...records].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    let record = stored;
    if (stored.layer) {
      if (!(await hasBlob(stores.content, stored.layer.blobDigest))) continue;
      const layer = await exportedLayer(stores, stored.layer, want);
      record = { ...stored, layer };
      layers.set(layer.blobDigest, {
        mediaType: layer.mediaType, digest: layer.blobDigest as Digest, size: layer.blobSize,
        annotations: { [CACHE_DIFFID_ANNOTATION]: layer.diffId },
      });
    }
    if (!kept.some((k) => k.key === record.key)) kept.push(record);
  }
  const config = encodeDocument(CACHE_CONFIG_MEDIA_TYPE, kept);
  const manifestValue: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    artifactType: CACHE_CONFIG_MEDIA_TYPE,
    config: config.descriptor,
    // Cache mounts after the records' layers: listed here, they travel (and are collected) with the cache.
    layers: [...layers.values(), ...cacheMounts],
    annotations: { [CACHE_MODE_ANNOTATION]: mode },
  };
  const manifest = encodeDocument(MediaTypes.ociManifest, manifestValue);
  return { config, manifest, layers: [...layers.values()], records: kept };
}

export interface CacheExportResult {
  /** Digest of the cache manifest. */
  digest: Digest;
  records: number;
  layers: number;
  /** Cache mount layers sent with it. */
  cacheMounts: number;
  /** Where it went: the normalised reference or the directory. */
  location: string;
}

export interface CacheExportOptions extends RegistryOptions {
  /** The layers' compression (--cache-to's compression=...); undefined sends each blob as stored. */
  layers?: LayerWant;
}

/**
 * Exports `records` (the engine chooses them: the final image's steps for mode=min, every
 * stage's for mode=max) to a registry reference or an OCI layout directory, with the packed
 * cache mounts `cacheMounts` (src/mounts/cache-mount-transfer.ts) as further layers.
 */
export async function exportCache(
  stores: RegistryStores, ref: string | CacheLocation, records: readonly CacheRecord[], mode: CacheMode = 'min', options: CacheExportOptions = {},
  cacheMounts: readonly CacheMountBlob[] = [],
): Promise<CacheExportResult> {
  const location = toLocation(ref);
  const doc = await buildCacheDocument(stores, records, mode, options.layers, cacheMounts.map((m) => m.descriptor));
  const recordLayers = doc.layers; // the manifest lists the cache mounts after these
  const summary = { digest: doc.manifest.descriptor.digest, records: doc.records.length, layers: recordLayers.length, cacheMounts: cacheMounts.length };
  if (location.type === 'local') {
    await forEachLimited(recordLayers, options.concurrency ?? 4, async (layer) => {
      await writeLayoutBlob(location.dir, layer, await openBlob(stores.content, layer.digest));
    });
    for (const m of cacheMounts) await writeLayoutBlob(location.dir, m.descriptor, createReadStream(m.path));
    await writeLayoutBlob(location.dir, doc.config.descriptor, doc.config.bytes);
    await writeLayoutBlob(location.dir, doc.manifest.descriptor, doc.manifest.bytes);
    await setLayoutRef(location.dir, location.tag ?? 'latest', doc.manifest.descriptor);
    return { ...summary, location: location.dir };
  }
  const parsed = withDefaultTag(parseReference(location.ref));
  const session = await openSession(parsed.domain, options);
  const blobs = [
    ...recordLayers.map((descriptor) => ({ descriptor, source: contentSource(stores.content, descriptor.digest) })),
    ...cacheMounts.map((m) => ({ descriptor: m.descriptor, source: { path: m.path } })),
    { descriptor: doc.config.descriptor, source: { bytes: doc.config.bytes } },
  ];
  await pushManifest(session, parsed.path, parsed.digest ?? parsed.tag!, { bytes: doc.manifest.bytes, mediaType: MediaTypes.ociManifest }, blobs, stores);
  return { ...summary, location: formatReference(parsed) };
}

export interface CacheImportResult {
  /** False when the reference or directory holds no cache (a first build): not an error. */
  found: boolean;
  /** Records written (records already in the local cache are kept and not counted). */
  records: number;
  layers: number;
  digest?: Digest;
  /** Cache mount layers the cache holds, not yet fetched (fetchCacheBlob; the caller decides which). */
  cacheMounts: Descriptor[];
}

function checkCacheManifest(manifest: ImageManifest, where: string): void {
  if (manifest.config.mediaType !== CACHE_CONFIG_MEDIA_TYPE) {
    throw new RegistryError(`${where} is not a berth build cache (its config is ${manifest.config.mediaType})`, 200, undefined, true);
  }
}

/**
 * A compressed layer from a cache becomes the uncompressed blob the store keeps for built layers
 * (its digest is the diff id, which this checks), and the compressed blob is recorded as its
 * variant: an image built from the cache is then the very image the exporting store built (same
 * manifest digest), and a push of it in that compression sends the cache's blob as it came.
 */
async function storedForm(stores: RegistryStores, layer: NonNullable<CacheRecord['layer']>): Promise<NonNullable<CacheRecord['layer']>> {
  if (layer.blobDigest === layer.diffId) return layer;
  const blob = await layerBlob(stores, { diffId: layer.diffId as Digest, digest: layer.blobDigest as Digest, size: layer.blobSize }, { compression: 'none' });
  return { diffId: layer.diffId, blobDigest: blob.digest, blobSize: blob.size, mediaType: layerMediaType('none', 'oci') };
}

async function writeImported(stores: RegistryStores, records: CacheRecord[]): Promise<number> {
  let written = 0;
  for (const imported of records) {
    if (imported.layer && !(await hasBlob(stores.content, imported.layer.blobDigest))) continue;
    if (readCacheRecord(stores.layout.cache, imported.key)) continue;
    const record = imported.layer ? { ...imported, layer: await storedForm(stores, imported.layer) } : imported;
    await writeCacheRecord(stores.layout.cache, record);
    written++;
  }
  return written;
}

const NOT_FOUND: CacheImportResult = { found: false, records: 0, layers: 0, cacheMounts: [] };

/**
 * Imports a cache exported by exportCache, from a registry reference or an OCI layout directory.
 * Cache mount layers are listed, not fetched: most of them an importer with a warm cache skips.
 */
export async function importCache(stores: RegistryStores, ref: string | CacheLocation, options: RegistryOptions = {}): Promise<CacheImportResult> {
  const location = toLocation(ref);
  if (location.type === 'local') {
    const index = await readLayoutIndex(location.dir);
    const entry = index && findLayoutRef(index, location.tag ?? 'latest');
    if (!entry) return NOT_FOUND;
    const manifest = parseManifest(await readLayoutBlob(location.dir, entry.digest));
    checkCacheManifest(manifest, `${location.dir}@${entry.digest}`);
    const configBytes = await readLayoutBlob(location.dir, manifest.config.digest);
    const layers = manifest.layers.filter((l) => !isCacheMountLayer(l));
    await forEachLimited(layers, options.concurrency ?? 4, async (layer) => {
      if (await hasBlob(stores.content, layer.digest)) return;
      await writeBlob(stores.content, await openLayoutBlob(location.dir, layer.digest), { digest: layer.digest, size: layer.size });
    });
    await writeBlob(stores.content, configBytes, { digest: manifest.config.digest, size: manifest.config.size });
    const records = await writeImported(stores, parseCacheRecords(configBytes));
    return { found: true, records, layers: layers.length, digest: entry.digest, cacheMounts: manifest.layers.filter(isCacheMountLayer) };
  }
  const parsed = withDefaultTag(parseReference(location.ref));
  const session = await openSession(parsed.domain, options);
  const reference = parsed.digest ?? parsed.tag!;
  let fetched;
  try {
    fetched = await getManifest(session, parsed.path, reference);
  } catch (error) {
    if (error instanceof RegistryError && error.status === 404) return NOT_FOUND;
    throw error;
  }
  if (isIndexMediaType(fetched.mediaType)) {
    throw new RegistryError(`${formatReference(parsed)} is an image index, not a berth build cache`, 200, undefined, true);
  }
  const manifest = parseManifest(fetched.bytes);
  checkCacheManifest(manifest, formatReference(parsed));
  const layers = manifest.layers.filter((l) => !isCacheMountLayer(l));
  await downloadBlobs(session, parsed.path, stores, [manifest.config, ...layers]);
  const records = await writeImported(stores, parseCacheRecords(await readBlob(stores.content, manifest.config.digest)));
  return { found: true, records, layers: layers.length, digest: fetched.digest, cacheMounts: manifest.layers.filter(isCacheMountLayer) };
}

/** Fetches one blob an imported cache lists (a cache mount's) into the content store, verified. */
export async function fetchCacheBlob(stores: RegistryStores, ref: string | CacheLocation, descriptor: Descriptor, options: RegistryOptions = {}): Promise<void> {
  const location = toLocation(ref);
  if (location.type === 'local') {
    if (await hasBlob(stores.content, descriptor.digest)) return;
    await writeBlob(stores.content, await openLayoutBlob(location.dir, descriptor.digest), { digest: descriptor.digest, size: descriptor.size });
    return;
  }
  const parsed = withDefaultTag(parseReference(location.ref));
  await downloadBlob(await openSession(parsed.domain, options), parsed.path, stores.content, descriptor);
}
