/**
 * RUN --mount: from the plan's mount descriptions to the mounts the sandbox makes, with BuildKit's
 * semantics (the Dockerfile reference, "RUN --mount").
 *
 * - bind: the build context as .dockerignore leaves it (bound as is when the ignore file hides
 *   nothing below the source, else a hard-linked filtered view), or a stage's or image's root file
 *   system as a lowerdir-only overlay of its snapshot dirs: nothing is copied. `rw` puts a
 *   throwaway upper dir on top, so neither the context nor the stage changes and the writes never
 *   reach the layer. `source` is resolved inside that root (by the helper, symlink-safe).
 * - cache: see cache-mounts.ts. - tmpfs: a fresh tmpfs.
 * - secret: the bytes from `berth build --secret`, as a file that exists only in the container's
 *   mount namespace (the helper writes it to its own tmpfs) and/or an environment variable. Only
 *   the id is part of the cache key; the bytes never touch the store.
 * - ssh: a socket of the step's own relaying to the agent `berth build --ssh` names (ssh.ts);
 *   SSH_AUTH_SOCK points at the first one.
 */
import { lstatSync, mkdirSync, type Stats } from 'node:fs';
import path from 'node:path';
import { BuildError, type SourceRange } from '../source/index.ts';
import type { FileSource, RunMount, RunOp } from '../plan/index.ts';
import type { LockSpec, MountSpec } from '../exec/index.ts';
import { lookup, resolveInRoot, type MergedView } from '../fsview/merged.ts';
import { NO_FILTER, walkContext, type ContextFilter } from '../context/walk.ts';
import type { StatCache } from '../context/stat-cache.ts';
import type { StoreLayout } from '../store/layout.ts';
import { copyEntries, leaseCacheMount, mergeLocks, type CacheSeed } from './cache-mounts.ts';
import { digestSources } from '../copy/digest.ts';
import type { ChainLayer } from '../snapshot/snapshots.ts';
import { cleanSourcePath, contextTree, mergedTree } from '../copy/source-tree.ts';
import { relaySocket, type SshAgents } from './ssh.ts';

/** The root file system of a `from=` stage or image, and its identity for cache keys. */
export interface MountRoot {
  chain: readonly ChainLayer[];
  key: string;
  /** Its snapshot dirs, top first, leased for the build ([] for an empty one). */
  lowerDirs: string[];
}

/** What RUN mounts need from the build besides the step itself. */
export interface RunMountEnv {
  rootOf(from: FileSource): Promise<MountRoot>;
  contextDir?: string;
  contextFilter?: ContextFilter;
  statCache?: StatCache;
  /** `berth build --secret` values by id. */
  secrets: ReadonlyMap<string, Buffer>;
  /** Entitlements granted with `berth build --allow` (security.insecure, network.host). */
  allow: readonly string[];
  /** `berth build --ssh` agents. */
  ssh?: SshAgents;
}

export const NO_RUN_MOUNT_ENV: RunMountEnv = {
  rootOf: () => Promise.reject(new Error('this build cannot mount other stages or images')),
  secrets: new Map(),
  allow: [],
};

/** Where a step's mounts are prepared and how its errors are reported. */
export interface MountContext {
  layout: StoreLayout;
  /** The step's temp dir: filtered context views and throwaway upper dirs go here. */
  tempDir: string;
  range: SourceRange;
  env: RunMountEnv;
}

export interface PreparedMounts {
  mounts: MountSpec[];
  /** `NAME=value` entries for secrets mounted as environment variables. */
  env: string[];
  locks: LockSpec[];
  release(): void;
}

function failAt(range: SourceRange, message: string): never {
  throw new BuildError(message, range);
}

/** Checks that hold whether or not the step is cached: unsupported mounts, entitlements. */
export function checkRunOp(op: RunOp, env: RunMountEnv, range: SourceRange): void {
  for (const m of op.mounts) {
    if (m.from?.kind === 'dir') failAt(m.range, `RUN --mount from the directory build context ${m.from.name} is not supported yet (COPY --from=${m.from.name} works)`);
    if (m.type === 'ssh' && m.required && !env.ssh?.socketOf(m.id ?? 'default')) {
      failAt(m.range, `no SSH agent for id ${m.id ?? 'default'}: give it with berth build --ssh ${m.id ?? 'default'}[=SOCKET|KEY]`);
    }
  }
  if (op.security === 'insecure' && !env.allow.includes('security.insecure')) {
    failAt(range, 'RUN --security=insecure needs the security.insecure entitlement: build with --allow security.insecure');
  }
  // The host's network reaches its loopback services and abstract sockets: BuildKit's rule.
  if (op.network === 'host' && !env.allow.includes('network.host')) {
    failAt(range, 'RUN --network=host needs the network.host entitlement: build with --allow network.host');
  }
}

interface ContextSource {
  rel: string;
  stat: Stats;
}

/** True when .dockerignore leaves `rel` (and the way to it) in the context. */
function visibleInContext(filter: ContextFilter, rel: string, isDir: boolean): boolean {
  const parts = rel.split('/').filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const prefix = parts.slice(0, i).join('/');
    if (!filter.excluded(prefix)) continue;
    // An excluded directory still shows what exceptions re-include below it.
    if (i === parts.length ? !(isDir && filter.mustDescend(prefix)) : !filter.mustDescend(prefix)) return false;
  }
  return true;
}

/** The context path a bind mount's `source` names, symlinks resolved inside the context. */
function resolveContextSource(m: RunMount, env: RunMountEnv): ContextSource & { root: string } {
  const root = env.contextDir;
  if (!root) failAt(m.range, 'RUN --mount=type=bind needs a build context (this build has none)');
  const wanted = cleanSourcePath(m.source ?? '');
  const view: MergedView = { layers: [root] };
  let rel: string;
  try {
    rel = resolveInRoot(view, wanted, true);
  } catch {
    failAt(m.range, `failed to compute cache key: "/${wanted}": too many levels of symbolic links`);
  }
  const stat = rel === '' ? lstatSync(root) : lookup(view, rel)?.stat;
  if (!stat || !visibleInContext(env.contextFilter ?? NO_FILTER, rel, stat.isDirectory())) {
    failAt(m.range, `failed to compute cache key: "/${wanted}": not found in the build context (or excluded by .dockerignore)`);
  }
  return { root, rel, stat };
}

function isContextBind(m: RunMount): boolean {
  return m.type === 'bind' && (!m.from || m.from.kind === 'context');
}

/**
 * Digests of what a RUN's mounts read, for its cache key (checks first): the context below a
 * bind's source, the key of a `from=` stage or image. Caches, tmpfs and secrets add nothing: a
 * secret is keyed by its id alone (already in the op), never by its bytes.
 */
export async function runMountDigests(op: RunOp, env: RunMountEnv, range: SourceRange): Promise<string[]> {
  checkRunOp(op, env, range);
  const digests: string[] = [];
  for (const [i, m] of op.mounts.entries()) {
    if (isContextBind(m)) {
      const found = resolveContextSource(m, env);
      const tree = contextTree(found.root, env.contextFilter ?? NO_FILTER);
      const entry = { rel: found.rel, hostPath: path.join(found.root, found.rel), stat: found.stat };
      digests.push(`mount ${i} context ${await digestSources(tree, [{ rel: found.rel, entry }], env.statCache)}`);
    } else if ((m.type === 'bind' || m.type === 'cache') && m.from && m.from.kind !== 'context') {
      digests.push(`mount ${i} from ${(await env.rootOf(m.from)).key}`);
    }
  }
  return digests;
}

/** An empty directory; overlay refuses the same one twice in a stack, hence the `which`. */
function emptyDir(ctx: MountContext, which = 0): string {
  const dir = path.join(ctx.tempDir, `mount-empty-${which}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** An overlay mount of `lowers`: read-only, or writable into a throwaway upper dir. */
function overlayMount(ctx: MountContext, n: number, lowers: string[], target: string, readonly: boolean, subpath: string): MountSpec {
  const lowerDirs = lowers.length ? [...lowers] : [emptyDir(ctx)];
  if (readonly) {
    // The kernel wants two lower dirs for an overlay without an upper one.
    if (lowerDirs.length < 2) lowerDirs.push(emptyDir(ctx, 1));
    return { kind: 'overlay', lowerDirs, target, readonly: true, subpath };
  }
  const dir = path.join(ctx.tempDir, `mount-${n}`);
  mkdirSync(path.join(dir, 'upper'), { recursive: true });
  mkdirSync(path.join(dir, 'work'));
  return { kind: 'overlay', lowerDirs, target, readonly: false, upperDir: path.join(dir, 'upper'), workDir: path.join(dir, 'work'), subpath };
}

function contextMount(ctx: MountContext, n: number, m: RunMount, target: string): MountSpec {
  const found = resolveContextSource(m, ctx.env);
  const filter = ctx.env.contextFilter ?? NO_FILTER;
  let root = found.root;
  if (found.stat.isDirectory()) {
    // Walk through the filter, noting whether it hides anything: only then is a view needed.
    let hides = false;
    const probe: ContextFilter = {
      excluded: (rel) => (filter.excluded(rel) ? (hides = true) : false),
      mustDescend: (rel) => filter.mustDescend(rel),
    };
    const entries = walkContext(found.root, probe, found.rel);
    if (hides) {
      root = path.join(ctx.tempDir, `context-${n}`);
      mkdirSync(path.join(root, found.rel), { recursive: true });
      copyEntries(entries.map((e) => ({ ...e, hostPath: path.join(found.root, e.rel) })), '', root, true);
    }
  }
  if (!m.readonly) return overlayMount(ctx, n, [root], target, false, found.rel);
  return { kind: 'bind', source: root, target, readonly: true, subpath: found.rel };
}

/** Lower dirs of a `from=` root and `source` resolved inside it (checked to exist). */
async function fromRoot(ctx: MountContext, m: RunMount, from: FileSource): Promise<{ lowers: string[]; rel: string; key: string }> {
  const root = await ctx.env.rootOf(from);
  const lowers = root.lowerDirs;
  const view: MergedView = { layers: lowers.length ? lowers : [emptyDir(ctx)] };
  const wanted = cleanSourcePath(m.source ?? '');
  const where = from.kind === 'image' ? `image ${from.ref}` : `stage ${from.kind === 'stage' ? from.stage : ''}`;
  let rel = '';
  try {
    rel = resolveInRoot(view, wanted, true);
  } catch {
    failAt(m.range, `"/${wanted}" in ${where}: too many levels of symbolic links`);
  }
  if (rel !== '' && !lookup(view, rel)) failAt(m.range, `failed to compute cache key: "/${wanted}": not found in ${where}`);
  return { lowers, rel, key: root.key };
}

async function cacheSeed(ctx: MountContext, m: RunMount): Promise<CacheSeed | undefined> {
  if (!m.from) return undefined;
  if (m.from.kind === 'context') failAt(m.range, 'RUN --mount=type=cache,from=<context> is not supported yet');
  const root = await fromRoot(ctx, m, m.from);
  const tree = mergedTree({ layers: root.lowers.length ? root.lowers : [emptyDir(ctx)] }, 'cache seed');
  const entry = tree.resolve(root.rel);
  if (!entry?.stat.isDirectory()) failAt(m.range, `cache mount source "/${root.rel}" is not a directory`);
  return { tree, entry, key: `${root.key} ${root.rel}` };
}

function secretMounts(ctx: MountContext, m: RunMount, target: string, out: PreparedMounts): void {
  const id = m.id ?? '';
  const value = ctx.env.secrets.get(id);
  if (value === undefined) {
    if (m.required) failAt(m.range, `secret ${id}: not found (give it with berth build --secret id=${id},src=FILE or env=VAR)`);
    return; // an optional secret that was not given is simply absent, as in BuildKit
  }
  if (m.env) out.env.push(`${m.env}=${value.toString('utf8')}`);
  if (m.target) out.mounts.push({ kind: 'file', target, content: value, mode: m.mode ?? 0o400, uid: m.uid ?? 0, gid: m.gid ?? 0 });
}

/**
 * Directories made for mount points (and their missing parents) are removed after the step when
 * empty, as BuildKit >= 0.12 does (moby/buildkit#3307, #3314; Docker 26, the oracle); Docker
 * 20.10's BuildKit kept them. One switch for both.
 */
const KEEP_MOUNT_POINT_DIRS = false;

function depth(target: string): number {
  return target.split('/').filter(Boolean).length;
}

/** Everything a RUN's mounts need for one run; call `release()` when the container is gone. */
export async function prepareRunMounts(ctx: MountContext, op: RunOp): Promise<PreparedMounts> {
  checkRunOp(op, ctx.env, ctx.range);
  // Cache leases and ssh relays, released when the container is gone.
  const leases: Array<{ release(): void }> = [];
  const out: PreparedMounts = { mounts: [], env: [], locks: [], release: () => leases.forEach((l) => l.release()) };
  try {
    for (const [n, m] of op.mounts.entries()) {
      // Relative targets, and none at all, are below the working directory, as BuildKit does it.
      const target = m.target || m.type !== 'secret' ? path.posix.resolve('/', op.cwd || '/', m.target) : '';
      switch (m.type) {
        case 'bind':
          if (isContextBind(m)) out.mounts.push(contextMount(ctx, n, m, target));
          else {
            const root = await fromRoot(ctx, m, m.from!);
            out.mounts.push(overlayMount(ctx, n, root.lowers, target, m.readonly, root.rel));
          }
          break;
        case 'cache': {
          const lease = leaseCacheMount(ctx.layout, m, await cacheSeed(ctx, m));
          leases.push(lease);
          out.locks.push(...lease.locks);
          out.mounts.push({ kind: 'bind', source: lease.dir, target, readonly: m.readonly });
          break;
        }
        case 'tmpfs':
          out.mounts.push({ kind: 'tmpfs', target, size: m.size });
          break;
        case 'secret':
          secretMounts(ctx, m, target, out);
          break;
        case 'ssh': {
          const agent = ctx.env.ssh?.socketOf(m.id ?? 'default');
          // Not required and not given: the step runs without it, as BuildKit's does.
          if (!agent) break;
          const relay = await relaySocket(path.join(ctx.tempDir, `ssh-${n}.sock`), agent, { uid: m.uid ?? 0, gid: m.gid ?? 0, mode: m.mode ?? 0o600 });
          leases.push({ release: () => relay.close() });
          out.mounts.push({ kind: 'bind', source: path.join(ctx.tempDir, `ssh-${n}.sock`), target, readonly: false });
          if (!out.env.some((e) => e.startsWith('SSH_AUTH_SOCK='))) out.env.push(`SSH_AUTH_SOCK=${target}`);
          break;
        }
      }
    }
  } catch (error) {
    out.release();
    throw error;
  }
  // Parents before children, so a mount inside another one is not hidden by it.
  out.mounts = out.mounts.map((mount, i) => ({ mount, i }))
    .sort((a, b) => depth(a.mount.target) - depth(b.mount.target) || a.i - b.i)
    .map((e) => ({ ...e.mount, keepStubDirs: KEEP_MOUNT_POINT_DIRS }));
  out.locks = mergeLocks(out.locks);
  return out;
}
