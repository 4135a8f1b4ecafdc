import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { userNamespace } from '../sys/userns.ts';

/** Where everything of one store lives. All writers create temp files under `tmp` (same filesystem). */
export interface StoreLayout {
  root: string;
  blobs: string;
  snapshots: string;
  images: string;
  cache: string;
  cacheMounts: string;
  tmp: string;
  locks: string;
}

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
  return {
    root,
    blobs: path.join(root, 'blobs'),
    snapshots: path.join(root, 'snapshots'),
    images: path.join(root, 'images'),
    cache: path.join(root, 'cache'),
    cacheMounts: path.join(root, 'cache-mounts'),
    tmp: path.join(root, 'tmp'),
    locks: path.join(root, 'locks'),
  };
}

export function ensureStore(layout: StoreLayout): StoreLayout {
  for (const dir of [layout.root, layout.blobs, layout.snapshots, layout.images, layout.cache, layout.cacheMounts, layout.tmp, layout.locks]) {
    mkdirSync(dir, { recursive: true });
  }
  return layout;
}
