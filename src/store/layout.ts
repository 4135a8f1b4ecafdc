import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { userNamespace } from '../sys/userns.ts';

/**
 * Every path of one store. No other module builds a store path from the root: they take them
 * from here, and each has its collection rule in STORE_AREAS (containerd's typed GC resources, in
 * the small). Writers make temp files named after their pid (src/store/temp-names.ts) under
 * `tmp`, `ingest` or beside their target, so whatever a killed writer leaves is found and swept.
 */
export interface StoreLayout {
  root: string;
  /** Content-addressed blobs (`sha256/<hex>`): layers, configs, manifests. */
  blobs: string;
  /** Blobs being written (`<pid>-<hex>.tmp`), renamed into `blobs` once verified. */
  ingest: string;
  /** Image records by manifest digest. */
  images: string;
  /** Names pointing at image records. */
  tags: string;
  /** Layers unpacked, one directory per chain id; a cache of the blobs. */
  snapshots: string;
  /** Build cache records, by step key. */
  cache: string;
  /** RUN --mount=type=cache directories. */
  cacheMounts: string;
  /** Copy reuse: which snapshot a COPY made last time (src/copy/reuse.ts). */
  lineage: string;
  /** Parsed Dockerfiles (src/store/parse-cache.ts). */
  parseCache: string;
  /** Context file digests by stat data (src/context/stat-cache.ts). */
  contextCache: string;
  /** Facts of built steps and each step's newest record, to explain cache misses (src/cache/explain.ts). */
  explain: string;
  /** ADD <git url>: one checkout per remote and commit (src/copy/git.ts). */
  git: string;
  /** ADD <url>: the validators (ETag, Last-Modified) and blob of each URL's last download. */
  urlCache: string;
  /** Repositories each blob was pulled from or pushed to (cross-repository mount hints). */
  registrySources: string;
  /** Compressed forms of layers (`<diff-id hex>.<gzip|zstd|none>.json` → blob), src/image/layer-variants.ts. */
  layerVariants: string;
  /** Scratch directories of builds, runs and exports (`<purpose>-<pid>-<hex>`). */
  tmp: string;
  locks: string;
  /** Per-snapshot lease lock files (src/snapshot/leases.ts). */
  snapshotLocks: string;
}

/** Who may remove what, and when. */
export const STORE_AREAS: Record<Exclude<keyof StoreLayout, 'root'>, string> = {
  blobs: 'prune: blobs no image and no remaining cache record needs',
  ingest: 'every build and prune: files of writers that are gone (dead pid)',
  images: 'berth rmi only (images are the roots of collection)',
  tags: 'berth rmi / berth tag only',
  snapshots: 'prune: snapshots of no image and no remaining record; after a reboot: all (src/store/lock.ts)',
  cache: 'prune: least recently used records (--filter until, --keep-storage, --all)',
  cacheMounts: 'prune --all',
  lineage: 'prune: records of snapshots that are gone',
  parseCache: 'every prune: all',
  contextCache: 'rewritten by every build of its context; prune --all: all',
  registrySources: 'prune: records of blobs that are gone; every build and prune: temp files of dead writers',
  urlCache: 'prune: records of blobs that are gone (a record without its blob is never used)',
  explain: 'prune: facts of steps whose cache record is gone, and slots pointing at them',
  git: 'every prune: all (fetched again by commit when next needed)',
  layerVariants: 'prune: records whose diff id no kept image or cache record has (their blobs go with them), and records whose blob is gone',
  tmp: 'every build and prune: directories of builds that are gone (dead pid)',
  locks: 'never (lock files are reused)',
  snapshotLocks: 'prune: lock files of snapshots that are gone',
};

/**
 * `--root`, then `BERTH_ROOT`, then /var/lib/berth for root and `$XDG_DATA_HOME/berth` otherwise
 * (rootless berth is uid 0 inside its user namespace, but its store is the user's).
 */
export function resolveStoreRoot(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit) return path.resolve(explicit);
  if (env.BERTH_ROOT) return path.resolve(env.BERTH_ROOT);
  if (process.getuid?.() === 0 && !userNamespace().rootless) return '/var/lib/berth';
  const data = env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(data, 'berth');
}

export function storeLayout(root: string): StoreLayout {
  const at = (...parts: string[]) => path.join(root, ...parts);
  return {
    root,
    blobs: at('blobs'),
    ingest: at('ingest'),
    images: at('images'),
    tags: at('tags'),
    snapshots: at('snapshots'),
    cache: at('cache'),
    cacheMounts: at('cache-mounts'),
    lineage: at('lineage'),
    parseCache: at('parse-cache'),
    contextCache: at('context-cache'),
    registrySources: at('registry', 'sources'),
    urlCache: at('url-cache'),
    explain: at('explain'),
    git: at('git'),
    layerVariants: at('layer-variants'),
    tmp: at('tmp'),
    locks: at('locks'),
    snapshotLocks: at('locks', 'snapshots'),
  };
}

/** Creates the directories every command expects; the others appear when first written. */
export function ensureStore(layout: StoreLayout): StoreLayout {
  for (const dir of [layout.root, layout.blobs, layout.snapshots, layout.images, layout.cache, layout.cacheMounts, layout.tmp, layout.locks]) {
    mkdirSync(dir, { recursive: true });
  }
  return layout;
}
