import { chmod, lstat, mkdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Paths inside an extraction root, resolved as if the root were `/` (what a container will see,
 * and what Docker gets by extracting in a chroot): `..` stops at the root, absolute symlinks
 * restart from the root, relative ones from the directory holding them. Nothing resolved here
 * can name a path outside the root. Only directories are resolved; the final component of an
 * entry is never followed, so writing an entry replaces a symlink instead of writing through it.
 */

export class PathEscapeError extends Error {
  readonly member: string;
  constructor(member: string) {
    super(`tar member ${JSON.stringify(member)} points outside the extraction directory`);
    this.name = 'PathEscapeError';
    this.member = member;
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
export async function resolveDir(root: string, rel: string, create: boolean): Promise<string | undefined> {
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
      stat = await lstat(next);
    } catch (error) {
      if (errnoOf(error) !== 'ENOENT') throw error;
      if (!create) return undefined;
      await mkdir(next);
      await chmod(next, 0o755);
      current = next;
      continue;
    }
    if (stat.isDirectory()) {
      current = next;
    } else if (stat.isSymbolicLink()) {
      if (++hops > MAX_HOPS) throw new Error(`too many levels of symbolic links resolving ${rel}`);
      const target = await readlink(next);
      if (target.startsWith('/')) current = root;
      todo.push(...target.split('/').reverse());
    } else if (create) {
      throw new Error(`cannot extract under ${rel}: ${next.slice(root.length + 1)} is not a directory`);
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
  resolve(rel: string, create: boolean): Promise<string | undefined>;
  invalidate(): void;
}

export function createDirResolver(root: string): DirResolver {
  const cache = new Map<string, string>();
  return {
    async resolve(rel, create) {
      const known = cache.get(rel);
      if (known !== undefined) return known;
      const resolved = await resolveDir(root, rel, create);
      if (resolved !== undefined) cache.set(rel, resolved);
      return resolved;
    },
    invalidate: () => cache.clear(),
  };
}
