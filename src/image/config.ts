import { isDigest, type Digest } from '../content/digest.ts';

/**
 * OCI image-spec `config.md` (which Docker's image JSON matches field for field): the runtime
 * defaults in `config`, the layer chain in `rootfs.diff_ids`, and one `history` entry per build
 * step, where only entries without `empty_layer` correspond to layers.
 */

/**
 * The runtime part of the config (`config.config`). One definition serves the planner and the
 * image code: the plan's plain data is the only type the front and back end share.
 */
export type { ContainerConfig, HealthConfig, HistoryEntry } from '../plan/types.ts';
import type { ContainerConfig, HistoryEntry } from '../plan/types.ts';

export interface RootFs {
  type: 'layers';
  diff_ids: Digest[];
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
  config?: ContainerConfig;
  rootfs: RootFs;
  history?: HistoryEntry[];
}

/** BuildKit's history comment for steps of a Dockerfile build. */
export const BUILDKIT_COMMENT = 'buildkit.dockerfile.v0';

/** RFC 3339 in UTC, the form configs use for `created`. */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.000Z$/, 'Z');
}

/** A config with no layers for linux/amd64. `created` is an input: same inputs, same digest. */
export function newImageConfig(options: { created?: string; config?: ContainerConfig; architecture?: string; os?: string } = {}): ImageConfig {
  return {
    ...(options.created !== undefined ? { created: options.created } : {}),
    architecture: options.architecture ?? 'amd64',
    os: options.os ?? 'linux',
    config: options.config ?? {},
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
  };
}

/** A config with one more layer and its history entry (a new object; the input is not changed). */
export function withLayer(image: ImageConfig, diffId: Digest, history: Omit<HistoryEntry, 'empty_layer'> = {}): ImageConfig {
  return {
    ...image,
    rootfs: { type: 'layers', diff_ids: [...image.rootfs.diff_ids, diffId] },
    history: [...(image.history ?? []), { ...history }],
  };
}

export class InvalidImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidImageError';
  }
}

/** Parses config JSON and checks the fields berth relies on. */
export function parseImageConfig(bytes: Buffer | string): ImageConfig {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString());
  } catch (error) {
    throw new InvalidImageError(`image config is not JSON: ${(error as Error).message}`);
  }
  const config = value as Partial<ImageConfig> | null;
  if (!config || typeof config !== 'object') throw new InvalidImageError('image config is not an object');
  if (typeof config.architecture !== 'string' || typeof config.os !== 'string') {
    throw new InvalidImageError('image config lacks architecture or os');
  }
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || !diffIds.every(isDigest)) throw new InvalidImageError('image config rootfs.diff_ids is not a list of sha256 digests');
  if (config.history !== undefined && !Array.isArray(config.history)) throw new InvalidImageError('image config history is not a list');
  return config as ImageConfig;
}

/** Non-empty history entries must match layers one to one when history is given at all. */
export function checkHistory(image: ImageConfig): void {
  if (!image.history || image.history.length === 0) return;
  const layered = image.history.filter((entry) => !entry.empty_layer).length;
  if (layered !== image.rootfs.diff_ids.length) {
    throw new InvalidImageError(`image config has ${image.rootfs.diff_ids.length} layers but ${layered} non-empty history entries`);
  }
}
