import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeImage, type WrittenImage } from '../../src/image/commit.ts';
import { BUILDKIT_COMMENT, newImageConfig, withLayer, type HistoryEntry, type ImageConfig } from '../../src/image/config.ts';

/** `created_by` the way BuildKit writes it for the instructions these fixtures use. */
function buildkitCreatedBy(instruction: string, text: string): string {
  return instruction === 'COPY' ? `COPY ${text} # buildkit` : `${instruction} ${text}`;
}

/** A config with a metadata-only history entry. */
function withEmptyLayerHistory(image: ImageConfig, history: Omit<HistoryEntry, 'empty_layer'>): ImageConfig {
  return { ...image, history: [...(image.history ?? []), { ...history, empty_layer: true }] };
}
import type { ImageStore } from '../../src/image/store.ts';
import { dirToTar } from '../../src/layer/diff.ts';
import { storeLayer } from '../../src/layer/store.ts';

export const CREATED = '2024-01-02T03:04:05Z';
const MTIME = 1_700_000_000;

/** A one-layer image of `files` (path → content) with fixed times, so its digests are stable. */
export async function makeImage(store: ImageStore, files: Record<string, string>, names: string[] = [], cmd: string[] = ['sh']): Promise<WrittenImage> {
  const tree = await mkdtemp(join(tmpdir(), 'berth-image-tree-'));
  try {
    const dirs = new Set<string>();
    for (const [path, text] of Object.entries(files)) {
      await mkdir(dirname(join(tree, path)), { recursive: true });
      await writeFile(join(tree, path), text);
      await utimes(join(tree, path), MTIME, MTIME);
      for (let d = dirname(path); d !== '.'; d = dirname(d)) dirs.add(d);
    }
    for (const d of dirs) await utimes(join(tree, d), MTIME, MTIME);
    const layer = await storeLayer(store.content, dirToTar(tree));
    let config = newImageConfig({ created: CREATED, config: { Env: ['PATH=/bin'], Cmd: cmd } });
    config = withLayer(config, layer.diffId, { created: CREATED, created_by: buildkitCreatedBy('COPY', '. /'), comment: BUILDKIT_COMMENT });
    config = withEmptyLayerHistory(config, { created: CREATED, created_by: buildkitCreatedBy('CMD', JSON.stringify(cmd)), comment: BUILDKIT_COMMENT });
    return await writeImage(store, config, [layer], { names });
  } finally {
    await rm(tree, { recursive: true, force: true });
  }
}
