/**
 * What a build of berth is, for the bundles (scripts/bundle.ts) and the single executable
 * (scripts/sea.ts) to bake in: the source tree, the build id hashed from it, the git commit.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Everything under src/ and grammar/, in one walk: the files (relative to the root, in a stable
 * order) and each directory with its entries' names, sorted and joined with NULs, as the snapshot
 * checks them before it runs (src/cli/freshness.ts).
 */
export function sourceTree(root: string): { files: string[]; dirs: Array<[string, string]> } {
  const files: string[] = [];
  const dirs: Array<[string, string]> = [];
  const walk = (rel: string): void => {
    const entries = readdirSync(path.join(root, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    dirs.push([rel, entries.map((entry) => entry.name).join('\0')]);
    for (const entry of entries) {
      if (entry.isDirectory()) walk(path.join(rel, entry.name));
      else if (entry.isFile()) files.push(path.join(rel, entry.name));
    }
  };
  walk('src');
  walk('grammar');
  return { files, dirs };
}

/**
 * What this build of berth is made of: every source file and the lockfile, hashed. Caches of
 * derived results (the parsed Dockerfiles, src/store/parse-cache.ts) key on it, so any change to
 * the code makes them start over; so does the installed package's cached snapshot.
 */
export function buildId(root: string, files: string[]): string {
  const hash = createHash('sha256');
  const lockfile = path.join(root, 'package-lock.json');
  for (const rel of existsSync(lockfile) ? [...files, 'package-lock.json'] : files) {
    hash.update(`${rel}\0`).update(readFileSync(path.join(root, rel))).update('\0');
  }
  return hash.digest('hex').slice(0, 32);
}

/** The commit the sources are, with "-dirty" when they differ from it; undefined outside git. */
export function gitCommit(root: string): string | undefined {
  const head = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, encoding: 'utf8' });
  if (head.status !== 0) return undefined;
  const clean = spawnSync('git', ['diff', '--quiet', 'HEAD', '--', 'src', 'grammar', 'package.json', 'package-lock.json'], { cwd: root });
  return `${head.stdout.trim()}${clean.status === 0 ? '' : '-dirty'}`;
}
