import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../content/store.ts';
import { parseDockerfile } from '../syntax/index.ts';
import type { ParsedDockerfile } from '../syntax/ast.ts';
import { storeLayout } from './layout.ts';

/**
 * Parsed Dockerfiles kept by content in `<store>/parse-cache/`. Parsing is the largest single
 * step of a no-op rebuild of a small project: from the start-up snapshot every parser function
 * is compiled on its first call, about 5 ms, while reading an entry back is a file read and a
 * JSON.parse. The parse result is plain data (strings, numbers, arrays; no undefined values
 * that matter), so JSON gives it back equal.
 *
 * An entry's name hashes the build id, the file name and the exact text: a changed Dockerfile
 * or a changed berth (scripts/bundle.ts hashes every source file and the lockfile into the id)
 * never finds an old entry. Runs from the TypeScript sources have no build id and always parse.
 * Bad input throws before anything is written, so errors are never cached.
 */
declare const __BERTH_BUILD_ID__: string | undefined;

const BUILD_ID = typeof __BERTH_BUILD_ID__ === 'string' ? __BERTH_BUILD_ID__ : undefined;

/** The directory of the cache in a store. */
export function parseCacheDir(root: string): string {
  return storeLayout(root).parseCache;
}

/** parseDockerfile, answered from `cacheDir` when this exact text was parsed before. */
export function parseDockerfileCached(text: string, file: string, cacheDir: string | undefined, buildId = BUILD_ID): ParsedDockerfile {
  if (cacheDir === undefined || buildId === undefined) return parseDockerfile(text, file);
  const key = createHash('sha256').update(`${buildId}\0${file}\0`).update(text).digest('hex');
  const entry = path.join(cacheDir, `${key}.json`);
  try {
    return JSON.parse(readFileSync(entry, 'utf8')) as ParsedDockerfile;
  } catch {
    // Not there (or unreadable, or cut short by a crash before the rename): parse.
  }
  const parsed = parseDockerfile(text, file);
  try {
    writeFileAtomicSync(entry, JSON.stringify(parsed));
  } catch {
    // A cache that cannot be written (read-only store, full disk) only costs the next parse.
  }
  return parsed;
}

/** Empties the cache (berth prune); the number of entries removed. */
export function clearParseCache(root: string): number {
  const dir = parseCacheDir(root);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) rmSync(path.join(dir, name), { force: true });
  return names.filter((name) => name.endsWith('.json')).length;
}
