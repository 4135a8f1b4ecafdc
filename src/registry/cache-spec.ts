import type { Descriptor } from '../image/descriptor.ts';
import { parseCompression, parseLevel, type LayerWant } from '../image/layer-variants.ts';
import { parseReference } from '../image/reference.ts';
import { parseKeyValues } from '../text/csv.ts';
import { BuildError } from '../source/error.ts';
import { formatSize, parseSize } from '../text/units.ts';

/**
 * `--cache-to` / `--cache-from` values as buildx writes them. Kept apart from the cache transfer
 * (cache.ts) so the build can check every spec before it runs a step, without loading the
 * registry's HTTP stack: a typo in a cache flag should not cost a whole build. Also berth's cache
 * mounts keys (issue 18): `cache-mounts=true|false`, `cache-mounts-max-size=SIZE`,
 * `cache-mount-ids=a;b`, and the annotations that mark a cache mount's layer.
 */

export type CacheMode = 'min' | 'max';
export type CacheLocation = { type: 'registry'; ref: string } | { type: 'local'; dir: string; tag?: string };

/** What a cache carries of `RUN --mount=type=cache` directories (absent: no cache-mount key given). */
export interface CacheMountOptions {
  /** `cache-mounts=`: export only when true; import unless false. Undefined when not given. */
  enabled?: boolean;
  /** Mounts whose files exceed this are skipped with a warning (export and import). */
  maxBytes: number;
  /** Only these ids (a mount without `id=` goes by its target); undefined for all. */
  ids?: string[];
}

export interface CacheSpec {
  location: CacheLocation;
  mode: CacheMode;
  /** Export only: how the cache's layers are compressed (BuildKit's default: gzip). */
  layers?: LayerWant;
  /** Export only: ignore-error=true, a failed export is a warning and the build still succeeds. */
  ignoreError?: boolean;
  cacheMounts?: CacheMountOptions;
}

/** 1 GiB: a package manager's download cache fits, a whole build tree's object files seldom do. */
export const DEFAULT_CACHE_MOUNTS_MAX_BYTES = 1024 ** 3;

export type CacheUse = 'export' | 'import';

const MOUNT_KEYS = ['cache-mounts', 'cache-mounts-max-size', 'cache-mount-ids'];
const EXPORT_KEYS = ['mode', 'compression', 'compression-level', 'force-compression', 'ignore-error', 'oci-mediatypes', 'image-manifest', ...MOUNT_KEYS];

/**
 * The keys BuildKit documents for the cache backends berth has, by direction. An import takes
 * `mode` and ignores it: scripts often hand one spec to both --cache-to and --cache-from.
 */
const VALID_KEYS: Record<CacheUse, Record<'registry' | 'local', string[]>> = {
  export: { registry: ['type', 'ref', ...EXPORT_KEYS], local: ['type', 'dest', 'tag', ...EXPORT_KEYS] },
  import: { registry: ['type', 'ref', 'mode', ...MOUNT_KEYS], local: ['type', 'src', 'tag', 'mode', ...MOUNT_KEYS] },
};

const FLAG: Record<CacheUse, string> = { export: '--cache-to', import: '--cache-from' };

function parseBool(key: string, value: string, use: CacheUse): boolean {
  if (value !== 'true' && value !== 'false') throw new BuildError(`invalid ${key} "${value}" in ${FLAG[use]} (true or false)`);
  return value === 'true';
}

/**
 * berth's cache is always an OCI image manifest with OCI media types, which is what
 * `image-manifest=true,oci-mediatypes=true` ask BuildKit for; those are accepted, false is not.
 */
function checkManifestKeys(fields: Record<string, string>, use: CacheUse): void {
  for (const key of ['oci-mediatypes', 'image-manifest']) {
    if (fields[key] !== undefined && !parseBool(key, fields[key], use)) {
      throw new BuildError(`${key}=false is not supported in ${FLAG[use]}: berth writes its cache as an OCI image manifest with OCI media types`);
    }
  }
}

/** compression=, compression-level=, force-compression= of an export; gzip unless told. */
function layerWant(fields: Record<string, string>, use: CacheUse): LayerWant {
  const where = `in ${FLAG[use]}`;
  const compression = fields.compression === undefined ? 'gzip' : parseCompression(fields.compression, where);
  return {
    compression,
    ...(fields['compression-level'] === undefined ? {} : { level: parseLevel(fields['compression-level'], compression, where) }),
    ...(fields['force-compression'] !== undefined && parseBool('force-compression', fields['force-compression'], use) ? { force: true } : {}),
  };
}

/**
 * Ids separated by `;`; a `,` separates them too where CSV quoting keeps it inside the field
 * (`"cache-mount-ids=a,b"`), since an unquoted one would end the option.
 */
export function parseCacheMountIds(value: string): string[] {
  const ids = [...new Set(value.split(/[;,]/).map((id) => id.trim()).filter(Boolean))];
  if (ids.length === 0) throw new BuildError('cache-mount-ids needs at least one id (separate them with ";")');
  return ids;
}

function cacheMountOptions(fields: Record<string, string>, use: CacheUse): CacheMountOptions | undefined {
  const enabled = fields['cache-mounts'];
  const size = fields['cache-mounts-max-size'];
  const ids = fields['cache-mount-ids'];
  if (enabled === undefined && size === undefined && ids === undefined) return undefined;
  const maxBytes = size === undefined ? DEFAULT_CACHE_MOUNTS_MAX_BYTES : parseSize(size);
  if (maxBytes === undefined) throw new BuildError(`invalid cache-mounts-max-size "${size}" (a size such as 512m or 2g; default ${formatSize(DEFAULT_CACHE_MOUNTS_MAX_BYTES)})`);
  return {
    ...(enabled !== undefined ? { enabled: parseBool('cache-mounts', enabled, use) } : {}),
    maxBytes,
    ...(ids !== undefined ? { ids: parseCacheMountIds(ids) } : {}),
  };
}

function readFields(text: string, use: CacheUse): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const { key, value } of parseKeyValues(text)) {
    if (value === undefined) throw new BuildError(`invalid cache option "${key}" in "${text}": want key=value`);
    fields[key] = value.trim();
  }
  const type = fields.type ?? 'registry';
  if (type !== 'registry' && type !== 'local') throw new BuildError(`unsupported cache type "${type}" (registry or local)`);
  const valid = VALID_KEYS[use][type];
  for (const key of Object.keys(fields)) {
    if (!valid.includes(key)) throw new BuildError(`unknown key "${key}" for ${FLAG[use]} type=${type} (valid: ${valid.join(', ')})`);
  }
  return fields;
}

function parseLocation(fields: Record<string, string>, text: string, use: CacheUse): CacheLocation {
  if ((fields.type ?? 'registry') === 'registry') {
    if (!fields.ref) throw new BuildError(`cache type=registry needs ref=<image reference> in "${text}"`);
    parseReference(fields.ref);
    return { type: 'registry', ref: fields.ref };
  }
  const dir = use === 'export' ? fields.dest : fields.src;
  if (!dir) throw new BuildError(`${FLAG[use]} type=local needs ${use === 'export' ? 'dest' : 'src'}=<dir> in "${text}"`);
  return { type: 'local', dir, ...(fields.tag ? { tag: fields.tag } : {}) };
}

/**
 * `type=registry,ref=R[,mode=min|max][,compression=...]`, `type=local,dest=DIR` (export) /
 * `type=local,src=DIR` (import), or a bare reference (registry). A key the direction and type do
 * not take is an error naming the ones they do.
 */
export function parseCacheSpec(text: string, use: CacheUse): CacheSpec {
  if (!text.includes('=')) {
    parseReference(text);
    return { location: { type: 'registry', ref: text }, mode: 'min', ...(use === 'export' ? { layers: { compression: 'gzip' } } : {}) };
  }
  const fields = readFields(text, use);
  const mode = fields.mode ?? 'min';
  if (mode !== 'min' && mode !== 'max') throw new BuildError(`invalid cache mode "${mode}" (min or max)`);
  const location = parseLocation(fields, text, use);
  const cacheMounts = cacheMountOptions(fields, use);
  if (use === 'import') return { location, mode, ...(cacheMounts ? { cacheMounts } : {}) };
  checkManifestKeys(fields, use);
  const ignoreError = fields['ignore-error'] !== undefined && parseBool('ignore-error', fields['ignore-error'], use);
  return { location, mode, layers: layerWant(fields, use), ...(ignoreError ? { ignoreError } : {}), ...(cacheMounts ? { cacheMounts } : {}) };
}

/** Annotations of a cache mount's layer (issue 18): berth restores it by these, never as an image layer. */
export const CACHE_MOUNT_ID_ANNOTATION = 'io.berth.cache-mount.id';
/** The mount's directory name under cache-mounts/: its id and, when given, its uid, gid and mode. */
export const CACHE_MOUNT_NAME_ANNOTATION = 'io.berth.cache-mount.name';
/** `uid:gid:mode` (octal) of the cache directory itself, which the tar does not hold. */
export const CACHE_MOUNT_ROOT_ANNOTATION = 'io.berth.cache-mount.root';
/** Bytes of the files, for the importer's size limit before it downloads anything. */
export const CACHE_MOUNT_SIZE_ANNOTATION = 'io.berth.cache-mount.size';

export function isCacheMountLayer(layer: Descriptor): boolean {
  return layer.annotations?.[CACHE_MOUNT_ID_ANNOTATION] !== undefined;
}

/** A packed cache mount to send with an export: its layer descriptor and the file holding it. */
export interface CacheMountBlob {
  descriptor: Descriptor;
  path: string;
}
