import type { Command } from 'commander';
import { openContentStore, type ContentStore } from '../content/index.ts';
import { openImageStore, type ImageStore } from '../image/store.ts';
import { ensureStore, resolveStoreRoot, storeLayout, type StoreLayout } from '../store/layout.ts';
import { lockForBuild, lockForCollection } from '../store/lock.ts';

export interface Stores {
  layout: StoreLayout;
  content: ContentStore;
  images: ImageStore;
}

/** The store root the global --root option (or BERTH_ROOT, or the default) names. */
export function storeRoot(command: Command): string {
  let root: string | undefined;
  for (let c: Command | null = command; c; c = c.parent) root ??= (c.opts() as { root?: string }).root;
  return resolveStoreRoot(root);
}

/** The store named by the global --root option (or BERTH_ROOT, or the default). */
export function openStores(command: Command): Stores {
  const layout = ensureStore(storeLayout(storeRoot(command)));
  const content = openContentStore(layout.root);
  return { layout, content, images: openImageStore(layout.root, content) };
}

/**
 * The store, locked for what a command does with it until `work` ends: `use` (shared) for
 * anything that writes or reads blobs and snapshots (build, run, load, import, pull), so prune
 * never removes what it is about to need; `collect` (exclusive) for prune itself.
 */
export async function withLockedStores<T>(
  command: Command, access: 'use' | 'collect', work: (stores: Stores) => Promise<T>, onWait?: () => void,
): Promise<T> {
  const stores = openStores(command);
  const lock = await (access === 'use' ? lockForBuild : lockForCollection)(stores.layout, onWait);
  try {
    return await work(stores);
  } finally {
    lock.release();
  }
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
