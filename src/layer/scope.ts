import { chmodSync, lstatSync, mkdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from './diff.ts';

/**
 * Paths inside an extraction root, resolved as if the root were `/` (what a container will see,
 * and what Docker gets by extracting in a chroot): `..` stops at the root, absolute symlinks
 * restart from the root, relative ones from the directory holding them. Nothing resolved here
 * can name a path outside the root. Only directories are resolved; the final component of an
 * entry is never followed, so writing an entry replaces a symlink instead of writing through it.
 */

/**
 * A member a layer may not hold, or could not be applied: names the member and, once the applier
 * has added it, the layer it came in, so a refused pull or load says which blob is hostile.
 */
export class LayerMemberError extends Error {
  readonly member: string;
  readonly reason: string;
  readonly layer: string | undefined;
  constructor(member: string, reason: string, layer?: string, options?: { cause?: unknown }) {
    super(`${layer ? `layer ${layer}: ` : ''}tar member ${JSON.stringify(member)} ${reason}`, options);
    this.name = 'LayerMemberError';
    this.member = member;
    this.reason = reason;
    this.layer = layer;
  }

  /** The same refusal, told of the member's full name and its layer. */
  named(member: string, layer: string | undefined): LayerMemberError {
    return this instanceof PathEscapeError ? new PathEscapeError(member, this.reason, layer) : new LayerMemberError(member, this.reason, layer, { cause: this.cause });
  }
}

/** A member whose name, link target or whiteout would reach outside the extraction directory. */
export class PathEscapeError extends LayerMemberError {
  constructor(member: string, reason = 'points outside the extraction directory', layer?: string) {
    super(member, reason, layer);
    this.name = 'PathEscapeError';
  }
}

/** Symlink hops allowed while resolving one path (Linux's own limit is 40). */
const MAX_HOPS = 40;

/**
 * A member name as a clean root-relative path (`a/b`, or '' for the root). Leading `/` and `./`
 * are dropped, as Docker does; `..` that would climb above the root is refused.
 */
export function cleanMemberPath(name: string): string {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) throw new PathEscapeError(name);
      parts.pop();
      continue;
    }
    parts.push(part);
  }
  return parts.join('/');
}

/**
 * What one member of a layer asks for, with every name already checked: this is the one place a
 * tar member's name is judged, for every way a layer is applied (build snapshots, load, pull,
 * import, exports). Whiteouts name a plain entry of their directory: `.wh.`, `.wh..` and
 * `.wh...` (the directory itself, its parent) are refused, as Docker refuses them.
 */
export type LayerMember =
  | { kind: 'root' }
  | { kind: 'entry'; rel: string }
  | { kind: 'whiteout'; dirRel: string; victim: string }
  | { kind: 'opaque'; dirRel: string }
  /** `.wh..wh.*` other than the opaque marker: aufs bookkeeping, meaningless here. */
  | { kind: 'aufs' };

export function classifyMember(name: string): LayerMember {
  if (name.includes('\0')) throw new LayerMemberError(name, 'has a NUL byte in its name');
  const rel = cleanMemberPath(name);
  if (rel === '') return { kind: 'root' };
  const base = baseRel(rel);
  if (!base.startsWith(WHITEOUT_PREFIX)) return { kind: 'entry', rel };
  const dirRel = parentRel(rel);
  if (base === OPAQUE_MARKER) return { kind: 'opaque', dirRel };
  if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return { kind: 'aufs' };
  const victim = base.slice(WHITEOUT_PREFIX.length);
  if (victim === '' || victim === '.' || victim === '..') {
    throw new PathEscapeError(name, `is a whiteout of ${JSON.stringify(victim)}: a whiteout must name a plain file or directory`);
  }
  return { kind: 'whiteout', dirRel, victim };
}

/** A hard link's target as a root-relative path: never the root, never above it. */
export function hardlinkTarget(member: string, linkname: string): string {
  if (linkname.includes('\0')) throw new LayerMemberError(member, 'has a NUL byte in its link target');
  let rel: string;
  try {
    rel = cleanMemberPath(linkname);
  } catch {
    throw new PathEscapeError(member, `is a hard link to ${JSON.stringify(linkname)}, outside the extraction directory`);
  }
  if (rel === '') throw new PathEscapeError(member, `is a hard link to ${JSON.stringify(linkname)}, the extraction directory itself`);
  return rel;
}

export function parentRel(rel: string): string {
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? '' : rel.slice(0, slash);
}

export function baseRel(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/**
 * The real directory `rel` names inside `root` (which must itself be a real path). With
 * `create`, missing directories are made (mode 0755, owned by the caller) and the path always
 * resolves; without it, undefined is returned when something is missing.
 */
export function resolveDir(root: string, rel: string, create: boolean, ownLinks?: ReadonlySet<string>): string | undefined {
  let current = root;
  const todo = rel.split('/').reverse();
  let hops = 0;
  while (todo.length > 0) {
    const part = todo.pop()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      // `current` is always root-prefixed and built from real names, so its parent stays inside.
      if (current !== root) current = current.slice(0, current.lastIndexOf('/')) || root;
      continue;
    }
    const next = join(current, part);
    let stat;
    try {
      stat = lstatSync(next);
    } catch (error) {
      if (errnoOf(error) !== 'ENOENT') throw error;
      if (!create) return undefined;
      mkdirSync(next);
      chmodSync(next, 0o755);
      current = next;
      continue;
    }
    if (stat.isDirectory()) {
      current = next;
    } else if (stat.isSymbolicLink()) {
      // A well-formed layer never holds members below its own symlinks (a directory walk does
      // not descend into them); a tar that does is the classic way out of an extraction root.
      if (ownLinks?.has(next)) {
        throw new PathEscapeError(rel, `passes through ${JSON.stringify(next.slice(root.length + 1))}, a symlink made earlier in this layer`);
      }
      if (++hops > MAX_HOPS) throw new Error(`too many levels of symbolic links resolving ${rel}`);
      const target = readlinkSync(next);
      if (target.startsWith('/')) current = root;
      todo.push(...target.split('/').reverse());
    } else if (create) {
      throw new LayerMemberError(rel, `cannot be extracted: ${JSON.stringify(next.slice(root.length + 1))} is not a directory`);
    } else {
      return undefined;
    }
  }
  return current;
}

/**
 * Resolving the same parent for every file of a directory is the common case; this caches
 * answers until something that could change them (a removal, a new symlink) happens.
 */
export interface DirResolver {
  resolve(rel: string, create: boolean): string | undefined;
  invalidate(): void;
}

/** `ownLinks`: real paths of the symlinks the layer being applied has made (never traversed). */
export function createDirResolver(root: string, ownLinks?: ReadonlySet<string>): DirResolver {
  const cache = new Map<string, string>();
  return {
    resolve(rel, create) {
      const known = cache.get(rel);
      if (known !== undefined) return known;
      const resolved = resolveDir(root, rel, create, ownLinks);
      if (resolved !== undefined) cache.set(rel, resolved);
      return resolved;
    },
    invalidate: () => cache.clear(),
  };
}
