import { BuildError, type SourceRange } from '../source/index.ts';
import { parseCacheSpec, type CacheSpec, type CacheUse } from '../registry/cache-spec.ts';
import type { BuildPlan, ContainerConfig } from '../plan/index.ts';
import type { BaseImage } from '../engine/build.ts';
import type { CacheRecord } from '../cache/records.ts';
import { baseImageOf, loadBaseImage } from '../engine/images.ts';
import { resolveImage, type ResolvedImage } from '../image/store.ts';
import type { PushedImage, PushOptions, RegistryOptions } from '../registry/index.ts';
import type { Descriptor } from '../image/descriptor.ts';
import { deleteBlob, hasBlob, openBlob } from '../content/store.ts';
import { packCacheMounts, planCacheMounts, restoreCacheMounts, type PackedCacheMounts } from '../mounts/cache-mount-transfer.ts';

/** Loaded on first use: most builds never talk to a registry, and its HTTP stack is slow to load. */
const client = () => import('../registry/index.ts');
import type { Stores } from './store.ts';

/**
 * Where base images come from during a build: the local store first, then the registry (as
 * `docker build` pulls a missing FROM); with --pull, the registry always (re-resolving tags).
 * Each reference is resolved once per build.
 */
export interface BaseImages {
  configFor(ref: string): Promise<{ config: ContainerConfig } | undefined>;
  /** The stored image (pulled if need be, once), for the build checks' base-image facts. */
  imageFor(ref: string): Promise<ResolvedImage | undefined>;
  load(ref: string, range: SourceRange | undefined): Promise<BaseImage>;
}

export function baseImages(stores: Stores, options: { pull: boolean; registry: RegistryOptions; log(message: string): void }): BaseImages {
  const resolved = new Map<string, Promise<ResolvedImage | undefined>>();
  // The stored image `ref` names, pulling it when needed; undefined when nowhere. Resolved once:
  // by digest from here on, so a concurrent tag cannot swap the image between plan and build.
  const locate = (ref: string): Promise<ResolvedImage | undefined> => {
    let found = resolved.get(ref);
    if (!found) {
      found = (async () => {
        const local = options.pull ? undefined : await resolveImage(stores.images, ref, { names: false });
        if (local) return local;
        try {
          options.log(`pulling ${ref}`);
          const pulled = await (await client()).pullImage(stores, ref, options.registry);
          return resolveImage(stores.images, pulled.manifestDigest, { names: false });
        } catch (error) {
          if (options.pull) throw error;
          options.log(`could not pull ${ref}: ${(error as Error).message}`);
          return undefined;
        }
      })();
      resolved.set(ref, found);
    }
    return found;
  };
  return {
    imageFor: locate,
    async configFor(ref) {
      const image = await locate(ref);
      return image ? { config: (image.config.config ?? {}) as ContainerConfig } : undefined;
    },
    async load(ref, range) {
      const image = await locate(ref);
      return image ? baseImageOf(image, ref, range) : loadBaseImage(stores.images, ref, range);
    },
  };
}

/**
 * Unpacks the cache mounts an imported cache carries into this store's empty ones; each fetched
 * blob is dropped once unpacked (the directory is the copy that counts).
 */
async function restoreMounts(stores: Stores, spec: CacheSpec, layers: Descriptor[], registry: RegistryOptions, log: (m: string) => void, warn: (m: string) => void): Promise<void> {
  const { fetchCacheBlob, DEFAULT_CACHE_MOUNTS_MAX_BYTES } = await client();
  const fetched = new Set<string>();
  await restoreCacheMounts(stores.layout, layers, {
    maxBytes: spec.cacheMounts?.maxBytes ?? DEFAULT_CACHE_MOUNTS_MAX_BYTES, ids: spec.cacheMounts?.ids, log, warn,
    async fetch(layer) {
      if (!(await hasBlob(stores.content, layer.digest))) fetched.add(layer.digest);
      await fetchCacheBlob(stores, spec.location, layer, registry);
      return openBlob(stores.content, layer.digest);
    },
    async done(layer) {
      if (fetched.delete(layer.digest)) await deleteBlob(stores.content, layer.digest);
    },
  });
}

/**
 * `--cache-from` sources: their records and blobs land in the local store before the build, and
 * the cache mounts they carry in this store's empty ones (unless `cache-mounts=false`).
 */
export async function importCaches(
  stores: Stores, specs: readonly CacheFlag[], registry: RegistryOptions, log: (m: string) => void, warn: (m: string) => void = log,
): Promise<void> {
  for (const { text, spec } of specs) {
    const { importCache } = await client();
    let result;
    try {
      result = await importCache(stores, spec.location, registry);
      log(result.found ? `imported ${result.records} cache records from ${text}` : `no cache found at ${text}`);
      if (result.cacheMounts.length > 0 && spec.cacheMounts?.enabled !== false) await restoreMounts(stores, spec, result.cacheMounts, registry, log, warn);
    } catch (error) {
      // BuildKit warns and builds without that cache: a cache is an optimisation, never a requirement.
      warn(`failed to import cache from ${text}: ${(error as Error).message}`);
    }
  }
}

/** The build's cache mounts packed for `spec` (cache-mounts=true), or none. */
async function packMounts(stores: Stores, spec: CacheSpec, plan: BuildPlan, log: (m: string) => void, warn: (m: string) => void): Promise<PackedCacheMounts | undefined> {
  if (spec.cacheMounts?.enabled !== true) return undefined;
  const { mounts, seeded } = planCacheMounts(plan, spec.cacheMounts.ids);
  for (const id of seeded) log(`cache mount ${id} not exported: it is seeded from= another stage or image`);
  return packCacheMounts(stores.layout, mounts, { maxBytes: spec.cacheMounts.maxBytes, log, warn });
}

/**
 * The records to export: `min` keeps the steps whose layers make up the final image (the target
 * and the stages it is built FROM), `max` every step of every stage that ran.
 */
export function recordsToExport(plan: BuildPlan, records: ReadonlyMap<string, CacheRecord>, mode: 'min' | 'max'): CacheRecord[] {
  if (mode === 'max') return [...records.values()];
  const byId = new Map(plan.vertices.map((v) => [v.id, v]));
  const target = plan.stages.find((s) => s.index === plan.target)!;
  const out: CacheRecord[] = [];
  let id: string | undefined = target.vertices[target.vertices.length - 1];
  while (id) {
    const record = records.get(id);
    if (record) out.push(record);
    id = byId.get(id)?.inputs[0];
  }
  return out.reverse();
}

/**
 * `--cache-to`: each export in turn, with the cache mounts it asks for. A failure fails the build
 * (its image is stored and pushed by then), unless the spec says ignore-error=true: then it is a
 * warning, as in BuildKit.
 */
export async function exportCaches(
  stores: Stores, specs: readonly CacheFlag[], plan: BuildPlan, records: ReadonlyMap<string, CacheRecord>, registry: RegistryOptions,
  log: (m: string) => void, warn: (m: string) => void,
): Promise<void> {
  for (const { text, spec } of specs) {
    const chosen = recordsToExport(plan, records, spec.mode);
    let packed: PackedCacheMounts | undefined;
    let result;
    try {
      packed = await packMounts(stores, spec, plan, log, warn);
      result = await (await client()).exportCache(stores, spec.location, chosen, spec.mode, { ...registry, layers: spec.layers }, packed?.blobs);
    } catch (error) {
      const message = `failed to export cache to ${text}: ${(error as Error).message}`;
      if (!spec.ignoreError) throw new BuildError(`${message} (add ignore-error=true to --cache-to to build on without it)`);
      warn(`${message} (ignore-error=true: the build goes on)`);
      continue;
    } finally {
      packed?.cleanup();
    }
    const compressed = spec.layers ? `, ${spec.layers.compression === 'none' ? 'uncompressed' : spec.layers.compression}` : '';
    const mounts = packed ? `, ${result.cacheMounts} cache mounts` : '';
    log(`exported ${result.records} cache records (${result.layers} layers${compressed}${mounts}) to ${text}`);
  }
}

/** A cache flag's text (for messages) and what it says, parsed before the build runs. */
export interface CacheFlag {
  text: string;
  spec: CacheSpec;
}

export function parseCacheFlags(texts: readonly string[], use: CacheUse): CacheFlag[] {
  return texts.map((text) => ({ text, spec: parseCacheSpec(text, use) }));
}

/** Pushes the built image under each name, its layers compressed as `push` says; the pushed results. */
export async function pushTags(
  stores: Stores, tags: string[], registry: RegistryOptions, log: (m: string) => void, push: Partial<PushOptions> = {},
): Promise<PushedImage[]> {
  const out: PushedImage[] = [];
  for (const tag of tags) {
    const pushed = await (await client()).pushImage(stores, tag, { ...registry, ...push });
    log(`pushed ${pushed.name}@${pushed.digest}${pushed.compressed ? ` (${pushed.compressed} layers compressed)` : ''}`);
    out.push(pushed);
  }
  return out;
}
