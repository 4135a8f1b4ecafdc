import { createHash } from 'node:crypto';
import type { Op, RunOp } from '../plan/index.ts';

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

/**
 * The parts of a RUN that decide its result. Proxy values given only with --build-arg are left
 * out, as Docker does; a proxy set by ENV or ARG is an ordinary variable and keyed.
 */
function normalizeRun(op: RunOp): unknown {
  const unkeyed = new Set(op.unkeyedEnv ?? []);
  const env = unkeyed.size ? op.env.filter((e) => !unkeyed.has(e.slice(0, e.indexOf('=')))) : op.env;
  return {
    argv: op.argv, env, cwd: op.cwd, user: op.user, network: op.network, security: op.security,
    mounts: op.mounts.map((m) => ({ ...m, range: undefined })),
    heredocs: op.heredocs.map((h) => ({ name: h.name, content: h.content, expand: h.expand, chomp: h.chomp })),
  };
}

export function normalizeOp(op: Op): unknown {
  switch (op.kind) {
    case 'run': return { kind: 'run', ...normalizeRun(op) as object };
    case 'copy': return { ...op };
    case 'workdir': return { ...op };
    case 'source': return { kind: 'source' };
    case 'metadata': return { kind: 'metadata' };
  }
}

/** Key of a step: parent key, operation, and digests of every other input it reads. */
export function stepKey(parentKey: string, op: Op, inputDigests: readonly string[]): string {
  return hashKey([CACHE_KEY_VERSION, parentKey, normalizeOp(op), inputDigests]);
}
