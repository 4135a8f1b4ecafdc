import { isDigest, type Digest } from '../content/digest.ts';
import { hasBlob, openBlob, readBlob, writeBlob } from '../content/store.ts';
import { MediaTypes, encodeDocument, isIndexMediaType, type Descriptor } from '../image/descriptor.ts';
import { parseManifest, type ImageManifest } from '../image/manifest.ts';
import { formatReference, parseReference, withDefaultTag } from '../image/reference.ts';
import { readCacheRecord, writeCacheRecord, type CacheRecord } from '../cache/records.ts';
import { parseKeyValues } from '../text/csv.ts';
import { BuildError } from '../source/error.ts';
import { openSession } from './auth.ts';
import { getManifest } from './client.ts';
import { RegistryError } from './errors.ts';
import type { RegistryOptions } from './hosts.ts';
import { findLayoutRef, openLayoutBlob, readLayoutBlob, readLayoutIndex, setLayoutRef, writeLayoutBlob } from './oci-layout.ts';
import { pushManifest } from './images.ts';
import { contentSource, downloadBlobs, forEachLimited, type RegistryStores } from './transfer.ts';

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

export type CacheMode = 'min' | 'max';
export type CacheLocation = { type: 'registry'; ref: string } | { type: 'local'; dir: string; tag?: string };

export interface CacheSpec {
  location: CacheLocation;
  mode: CacheMode;
}

/**
 * Parses `--cache-to`/`--cache-from` values as buildx writes them: `type=registry,ref=R[,mode=
 * min|max]`, `type=local,dest=DIR` / `type=local,src=DIR`, or a bare reference (registry).
 */
export function parseCacheSpec(text: string): CacheSpec {
  if (!text.includes('=')) return { location: { type: 'registry', ref: text }, mode: 'min' };
  const fields: Record<string, string> = {};
  for (const { key, value } of parseKeyValues(text)) {
    if (value === undefined) throw new BuildError(`invalid cache option "${key}" in "${text}": want key=value`);
    fields[key] = value.trim();
  }
  const mode = fields.mode ?? 'min';
  if (mode !== 'min' && mode !== 'max') throw new BuildError(`invalid cache mode "${mode}" (min or max)`);
  const type = fields.type ?? 'registry';
  if (type === 'registry') {
    if (!fields.ref) throw new BuildError(`cache type=registry needs ref=<image reference> in "${text}"`);
    parseReference(fields.ref);
    return { location: { type, ref: fields.ref }, mode };
  }
  if (type === 'local') {
    const dir = fields.dest ?? fields.src;
    if (!dir) throw new BuildError(`cache type=local needs dest=<dir> (export) or src=<dir> (import) in "${text}"`);
    return { location: { type, dir, ...(fields.tag ? { tag: fields.tag } : {}) }, mode };
  }
  throw new BuildError(`unsupported cache type "${type}" (registry or local)`);
}

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
  layers: Descriptor[];
  records: CacheRecord[];
}

/** The manifest and config of a cache export; records whose blob this store lacks are left out. */
export async function buildCacheDocument(stores: RegistryStores, records: readonly CacheRecord[], mode: CacheMode): Promise<CacheDocument> {
  const kept: CacheRecord[] = [];
  const layers = new Map<string, Descriptor>();
  for (const record of [...records].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    if (record.layer) {
      if (!(await hasBlob(stores.content, record.layer.blobDigest))) continue;
      layers.set(record.layer.blobDigest, {
        mediaType: record.layer.mediaType, digest: record.layer.blobDigest as Digest, size: record.layer.blobSize,
        annotations: { [CACHE_DIFFID_ANNOTATION]: record.layer.diffId },
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
    layers: [...layers.values()],
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
  /** Where it went: the normalised reference or the directory. */
  location: string;
}

/**
 * Exports `records` (the engine chooses them: the final image's steps for mode=min, every
 * stage's for mode=max) to a registry reference or an OCI layout directory.
 */
export async function exportCache(
  stores: RegistryStores, ref: string | CacheLocation, records: readonly CacheRecord[], mode: CacheMode = 'min', options: RegistryOptions = {},
): Promise<CacheExportResult> {
  const location = toLocation(ref);
  const doc = await buildCacheDocument(stores, records, mode);
  const summary = { digest: doc.manifest.descriptor.digest, records: doc.records.length, layers: doc.layers.length };
  if (location.type === 'local') {
    await forEachLimited(doc.layers, options.concurrency ?? 4, async (layer) => {
      await writeLayoutBlob(location.dir, layer, await openBlob(stores.content, layer.digest));
    });
    await writeLayoutBlob(location.dir, doc.config.descriptor, doc.config.bytes);
    await writeLayoutBlob(location.dir, doc.manifest.descriptor, doc.manifest.bytes);
    await setLayoutRef(location.dir, location.tag ?? 'latest', doc.manifest.descriptor);
    return { ...summary, location: location.dir };
  }
  const parsed = withDefaultTag(parseReference(location.ref));
  const session = await openSession(parsed.domain, options);
  const blobs = [
    ...doc.layers.map((descriptor) => ({ descriptor, source: contentSource(stores.content, descriptor.digest) })),
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
}

function checkCacheManifest(manifest: ImageManifest, where: string): void {
  if (manifest.config.mediaType !== CACHE_CONFIG_MEDIA_TYPE) {
    throw new RegistryError(`${where} is not a berth build cache (its config is ${manifest.config.mediaType})`, 200, undefined, true);
  }
}

async function writeImported(stores: RegistryStores, records: CacheRecord[]): Promise<number> {
  let written = 0;
  for (const record of records) {
    if (record.layer && !(await hasBlob(stores.content, record.layer.blobDigest))) continue;
    if (readCacheRecord(stores.layout.cache, record.key)) continue;
    await writeCacheRecord(stores.layout.cache, record);
    written++;
  }
  return written;
}

/** Imports a cache exported by exportCache, from a registry reference or an OCI layout directory. */
export async function importCache(stores: RegistryStores, ref: string | CacheLocation, options: RegistryOptions = {}): Promise<CacheImportResult> {
  const location = toLocation(ref);
  if (location.type === 'local') {
    const index = await readLayoutIndex(location.dir);
    const entry = index && findLayoutRef(index, location.tag ?? 'latest');
    if (!entry) return { found: false, records: 0, layers: 0 };
    const manifest = parseManifest(await readLayoutBlob(location.dir, entry.digest));
    checkCacheManifest(manifest, `${location.dir}@${entry.digest}`);
    const configBytes = await readLayoutBlob(location.dir, manifest.config.digest);
    await forEachLimited(manifest.layers, options.concurrency ?? 4, async (layer) => {
      if (await hasBlob(stores.content, layer.digest)) return;
      await writeBlob(stores.content, await openLayoutBlob(location.dir, layer.digest), { digest: layer.digest, size: layer.size });
    });
    await writeBlob(stores.content, configBytes, { digest: manifest.config.digest, size: manifest.config.size });
    const records = await writeImported(stores, parseCacheRecords(configBytes));
    return { found: true, records, layers: manifest.layers.length, digest: entry.digest };
  }
  const parsed = withDefaultTag(parseReference(location.ref));
  const session = await openSession(parsed.domain, options);
  const reference = parsed.digest ?? parsed.tag!;
  let fetched;
  try {
    fetched = await getManifest(session, parsed.path, reference);
  } catch (error) {
    if (error instanceof RegistryError && error.status === 404) return { found: false, records: 0, layers: 0 };
    throw error;
  }
  if (isIndexMediaType(fetched.mediaType)) {
    throw new RegistryError(`${formatReference(parsed)} is an image index, not a berth build cache`, 200, undefined, true);
  }
  const manifest = parseManifest(fetched.bytes);
  checkCacheManifest(manifest, formatReference(parsed));
  await downloadBlobs(session, parsed.path, stores, [manifest.config, ...manifest.layers]);
  const records = await writeImported(stores, parseCacheRecords(await readBlob(stores.content, manifest.config.digest)));
  return { found: true, records, layers: manifest.layers.length, digest: fetched.digest };
}
