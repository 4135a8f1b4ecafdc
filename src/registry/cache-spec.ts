import { parseReference } from '../image/reference.ts';
import { parseKeyValues } from '../text/csv.ts';
import { formatSize, parseSize } from '../text/units.ts';
import { BuildError } from '../source/error.ts';
import type { Descriptor } from '../image/descriptor.ts';

/**
 * `--cache-to` / `--cache-from` values, as buildx writes them: `type=registry,ref=R[,mode=min|max]`,
 * `type=local,dest=DIR` / `type=local,src=DIR[,tag=T]`, or a bare reference (registry); plus
 * berth's cache mounts keys (issue 18): `cache-mounts=true|false`, `cache-mounts-max-size=SIZE`,
 * `cache-mount-ids=a;b`, and the annotations that mark a cache mount's layer. Light on purpose:
 * the cache mount packer reads it without loading the registry's HTTP stack.
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
  cacheMounts?: CacheMountOptions;
  /** buildx's `ignore-error=true`: a failed export warns instead of failing the build. */
  ignoreError?: boolean;
}

/** 1 GiB: a package manager's download cache fits, a whole build tree's object files seldom do. */
export const DEFAULT_CACHE_MOUNTS_MAX_BYTES = 1024 ** 3;

/**
 * Every key berth reads. `oci-mediatypes` and `image-manifest` are buildx's and accepted as they
 * stand: berth's cache is always an OCI image manifest with OCI media types.
 */
const KEYS = [
  'type', 'ref', 'mode', 'dest', 'src', 'tag', 'ignore-error', 'oci-mediatypes', 'image-manifest',
  'cache-mounts', 'cache-mounts-max-size', 'cache-mount-ids',
] as const;

function parseBool(key: string, value: string): boolean {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new BuildError(`invalid cache option ${key}="${value}" (true or false)`);
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

function cacheMountOptions(fields: Record<string, string>): CacheMountOptions | undefined {
  const enabled = fields['cache-mounts'];
  const size = fields['cache-mounts-max-size'];
  const ids = fields['cache-mount-ids'];
  if (enabled === undefined && size === undefined && ids === undefined) return undefined;
  const maxBytes = size === undefined ? DEFAULT_CACHE_MOUNTS_MAX_BYTES : parseSize(size);
  if (maxBytes === undefined) throw new BuildError(`invalid cache-mounts-max-size "${size}" (a size such as 512m or 2g; default ${formatSize(DEFAULT_CACHE_MOUNTS_MAX_BYTES)})`);
  return {
    ...(enabled !== undefined ? { enabled: parseBool('cache-mounts', enabled) } : {}),
    maxBytes,
    ...(ids !== undefined ? { ids: parseCacheMountIds(ids) } : {}),
  };
}

function readFields(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const { key, value } of parseKeyValues(text)) {
    const name = key.toLowerCase();
    if (!(KEYS as readonly string[]).includes(name)) throw new BuildError(`unknown cache option "${key}" in "${text}" (valid: ${KEYS.join(', ')})`);
    if (value === undefined) throw new BuildError(`invalid cache option "${key}" in "${text}": want key=value`);
    fields[name] = value.trim();
  }
  return fields;
}

export function parseCacheSpec(text: string): CacheSpec {
  if (!text.includes('=')) return { location: { type: 'registry', ref: text }, mode: 'min' };
  const fields = readFields(text);
  const mode = fields.mode ?? 'min';
  if (mode !== 'min' && mode !== 'max') throw new BuildError(`invalid cache mode "${mode}" (min or max)`);
  const cacheMounts = cacheMountOptions(fields);
  const extra = {
    ...(cacheMounts ? { cacheMounts } : {}),
    ...(fields['ignore-error'] !== undefined && parseBool('ignore-error', fields['ignore-error']) ? { ignoreError: true } : {}),
  };
  const type = fields.type ?? 'registry';
  if (type === 'registry') {
    if (!fields.ref) throw new BuildError(`cache type=registry needs ref=<image reference> in "${text}"`);
    parseReference(fields.ref);
    return { location: { type, ref: fields.ref }, mode, ...extra };
  }
  if (type === 'local') {
    const dir = fields.dest ?? fields.src;
    if (!dir) throw new BuildError(`cache type=local needs dest=<dir> (export) or src=<dir> (import) in "${text}"`);
    return { location: { type, dir, ...(fields.tag ? { tag: fields.tag } : {}) }, mode, ...extra };
  }
  throw new BuildError(`unsupported cache type "${type}" (registry or local)`);
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
