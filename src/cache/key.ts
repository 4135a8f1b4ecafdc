import { createHash } from 'node:crypto';

/**
 * Cache keys: a vertex's key hashes its parent's key, its normalised operation and the content of
 * what it reads, so equal keys mean equal results. Nothing time- or path-dependent goes in.
 */
// v2: RUN and WORKDIR results follow Docker 26 (mount points removed, /dev /proc /sys kept,
// WORKDIR owners): a v1 result would bring back Docker 20.10's.
export const CACHE_KEY_VERSION = 'berth-cache-v2';

export function hashKey(parts: unknown): string {
  return `sha256:${createHash('sha256').update(JSON.stringify(parts)).digest('hex')}`;
}

/** Key of a step: parent key, what of its op decides the result, and digests of every other input it reads. */
export function stepKey(parentKey: string, keyedOp: unknown, inputDigests: readonly string[]): string {
  return hashKey([CACHE_KEY_VERSION, parentKey, keyedOp, inputDigests]);
}
