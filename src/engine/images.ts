import { BuildError, type SourceRange } from '../source/index.ts';
import type { BuildPlan, ContainerConfig } from '../plan/index.ts';
import type { Digest } from '../content/digest.ts';
import { newImageConfig, type HistoryEntry as OciHistory, type ImageConfig } from '../image/config.ts';
import { writeImage } from '../image/commit.ts';
import { resolveImage, type ImageRecord, type ImageStore, type ResolvedImage } from '../image/store.ts';
import type { BaseImage, VertexResult } from './build.ts';
import { chainIdOf, ensureSnapshots, LAYER_MEDIA_TYPE, type ChainLayer } from '../snapshot/snapshots.ts';
import type { ContentStore } from '../content/index.ts';
import type { StoreLayout } from '../store/layout.ts';
import { clampLayerTimes, hasMemberNewerThan } from '../layer/rewrite-times.ts';
import { isoSeconds } from '../text/units.ts';
import { layerMediaTypeIn } from '../image/descriptor.ts';

/** A stored image as the engine uses it for FROM and COPY --from. */
export async function loadBaseImage(store: ImageStore, ref: string, range: SourceRange | undefined): Promise<BaseImage> {
  const image = await resolveImage(store, ref, { names: false });
  if (!image) {
    throw new BuildError(`failed to resolve source metadata for ${ref}: no such image in the local store (load it with \`berth load\` or \`berth import\`)`, range);
  }
  return baseImageOf(image, ref, range);
}

/** An image already read from the store, as the engine uses it. */
export function baseImageOf(image: ResolvedImage, ref: string, range: SourceRange | undefined): BaseImage {
  const diffIds = image.config.rootfs.diff_ids;
  if (diffIds.length !== image.manifest.layers.length) {
    throw new BuildError(`image ${ref} is inconsistent: ${diffIds.length} diff_ids for ${image.manifest.layers.length} layers`, range);
  }
  const chain: ChainLayer[] = [];
  image.manifest.layers.forEach((layer, i) => {
    chain.push({
      diffId: diffIds[i], blobDigest: layer.digest, blobSize: layer.size, mediaType: layer.mediaType,
      chainId: chainIdOf(chain.at(-1)?.chainId, diffIds[i]),
    });
  });
  return {
    id: image.record.digest, chain, config: (image.config.config ?? {}) as ContainerConfig,
    history: image.config.history ?? [], created: image.config.created,
  };
}

export interface AssembleOptions {
  tags: string[];
  labels: Record<string, string>;
  /** SOURCE_DATE_EPOCH-style fixed time, else the time the newest layer was made. */
  created?: Date;
  /** With `created`: layer members newer than it get its time too (rewrite-timestamp=true). */
  rewriteTimestamps?: boolean;
  /** Needed for rewriteTimestamps: where the layer blobs are. */
  content?: ContentStore;
  /** OCI annotations on the manifest (an output's annotation.*). */
  annotations?: Record<string, string>;
}


/** The result's layers for the manifest, their times clamped to `epoch` where asked. */
async function manifestLayers(result: VertexResult, options: AssembleOptions) {
  // The manifest is OCI: a base's Docker layer types are spelt the OCI way (same blobs).
  const layers = result.chain.map((l) => ({ digest: l.blobDigest as Digest, size: l.blobSize, mediaType: layerMediaTypeIn(l.mediaType || LAYER_MEDIA_TYPE, 'oci'), diffId: l.diffId as Digest }));
  if (!options.rewriteTimestamps || !options.created || !options.content) return layers;
  const epoch = Math.floor(options.created.getTime() / 1000);
  const out = [];
  for (const layer of layers) {
    if (!(await hasMemberNewerThan(options.content, layer.digest, epoch))) {
      out.push(layer);
      continue;
    }
    const stored = await clampLayerTimes(options.content, layer.digest, epoch);
    out.push({ digest: stored.digest, size: stored.size, mediaType: LAYER_MEDIA_TYPE, diffId: stored.diffId });
  }
  return out;
}

/** The built result to an OCI config + manifest in the store, tagged. */
export async function assembleImage(
  store: ImageStore, plan: BuildPlan, result: VertexResult, options: AssembleOptions,
): Promise<{ record: ImageRecord; configDigest: Digest; manifestDigest: Digest }> {
  const created = options.created ? isoSeconds(options.created) : result.created;
  const containerConfig: ContainerConfig = structuredClone(result.config);
  if (Object.keys(options.labels).length) containerConfig.Labels = { ...(containerConfig.Labels ?? {}), ...options.labels };
  const target = plan.stages.find((s) => s.index === plan.target);
  // SOURCE_DATE_EPOCH: what this build made is dated then (a base's older history stays as it is).
  const history: OciHistory[] = result.history.map((h) => (options.created && h.created && h.created > created ? { ...h, created } : { ...h }));
  const layers = await manifestLayers(result, options);
  const config: ImageConfig = {
    ...newImageConfig({ created, config: containerConfig as ImageConfig['config'] }),
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history,
  };
  if (target?.author) config.author = target.author;
  const written = await writeImage(store, config, layers, { names: options.tags, ...(options.annotations ? { annotations: options.annotations } : {}) });
  const record = written.record;
  const configDoc = { descriptor: written.config };
  const manifestDoc = { descriptor: written.descriptor };
  return { record, configDigest: configDoc.descriptor.digest, manifestDigest: manifestDoc.descriptor.digest };
}

/**
 * Unpacks an image's layers into snapshots right away (after load, import or pull), as Docker
 * does, so the first build on it does not pay for it.
 */
export async function unpackImage(layout: StoreLayout, content: ContentStore, store: ImageStore, ref: string): Promise<void> {
  const image = await loadBaseImage(store, ref, undefined);
  await ensureSnapshots(layout, content, image.chain);
}
