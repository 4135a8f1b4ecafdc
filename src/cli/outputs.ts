import { createReadStream, mkdirSync, rmSync } from 'node:fs';
import { createWriteStream } from 'node:fs';
import { rename } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseKeyValues } from '../text/csv.ts';
import { BuildError } from '../source/index.ts';
import { blobPath } from '../content/index.ts';
import { saveDockerArchive, saveOciArchive } from '../image/archive-save.ts';
import { resolveImage } from '../image/store.ts';
import { applyTar } from '../layer/apply.ts';
import { dirToTar } from '../layer/diff.ts';
import { makeTempDir } from '../snapshot/snapshots.ts';
import type { Stores } from './store.ts';

export interface OutputSpec {
  type: 'image' | 'docker' | 'oci' | 'local' | 'tar' | 'registry';
  dest?: string;
  /** rewrite-timestamp=true: layer times after SOURCE_DATE_EPOCH become it (BuildKit's option). */
  rewriteTimestamp?: boolean;
}

/** `type=docker,dest=out.tar` (a bare path means type=local,dest=path, like buildx). */
export function parseOutput(spec: string): OutputSpec {
  if (!spec.includes('=')) return { type: 'local', dest: spec };
  const out: Record<string, string> = {};
  for (const { key, value } of parseKeyValues(spec)) out[key] = value ?? 'true';
  const type = out.type ?? 'local';
  if (!['image', 'docker', 'oci', 'local', 'tar', 'registry'].includes(type)) {
    throw new BuildError(`unsupported output type "${type}" (image, docker, oci, local, tar or registry)`);
  }
  if (type !== 'image' && type !== 'registry' && !out.dest) throw new BuildError(`output type=${type} needs dest=<path>`);
  const rewrite = out['rewrite-timestamp'];
  if (rewrite !== undefined && rewrite !== 'true' && rewrite !== 'false') throw new BuildError(`invalid rewrite-timestamp "${rewrite}" in --output (true or false)`);
  return { type: type as OutputSpec['type'], dest: out.dest, rewriteTimestamp: rewrite === 'true' };
}

/** Every layer applied in order into `dir`: the image's root file system as a plain tree. */
async function flatten(stores: Stores, manifestDigest: string, dir: string): Promise<void> {
  const image = await resolveImage(stores.images, manifestDigest);
  if (!image) throw new BuildError(`image ${manifestDigest} vanished from the store`);
  for (const layer of image.manifest.layers) {
    await applyTar(createReadStream(blobPath(stores.content, layer.digest)), dir, { mode: 'plain', layer: layer.digest });
  }
}

/** Writes the built image where `--output` says; type=image is the store itself. */
export async function exportImage(stores: Stores, manifestDigest: string, tags: string[], output: OutputSpec): Promise<void> {
  const names = tags.length ? tags : [manifestDigest];
  const dest = output.dest ? path.resolve(output.dest) : '';
  switch (output.type) {
    case 'image':
    case 'registry': return; // The store is written anyway; registry pushes happen after export.
    case 'docker': return saveDockerArchive(stores.images, names, dest);
    case 'oci': return saveOciArchive(stores.images, names, dest);
    case 'local':
      mkdirSync(dest, { recursive: true });
      return flatten(stores, manifestDigest, dest);
    case 'tar': {
      const temp = makeTempDir(stores.layout, 'export');
      try {
        await flatten(stores, manifestDigest, temp);
        const partial = `${dest}.partial`;
        await pipeline(dirToTar(temp), createWriteStream(partial));
        await rename(partial, dest);
      } finally {
        rmSync(temp, { recursive: true, force: true });
      }
    }
  }
}
