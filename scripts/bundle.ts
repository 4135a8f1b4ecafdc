/**
 * Bundles the CLI (rolldown, a dev dependency): one module graph instead of a hundred files to
 * resolve and strip, so every berth command starts about twice as fast. In a checkout
 * (`npm run bundle`, and `npm install`) two outputs:
 *
 *   dist/cli/main.js          an ES module bundle of src/cli/main.ts (run by bin/berth)
 *   dist/snapshot/berth.blob  a V8 start-up snapshot of src/cli/snapshot.ts: Node starts with the
 *                             whole bundle already evaluated (built-in modules loaded, Chevrotain's
 *                             parsers analysed), so nothing is compiled or run before the command
 *
 * bin/berth uses the snapshot while it is newer than node_modules' node and was built for this
 * checkout (the snapshot itself hands over to the TypeScript sources when one of them changed:
 * src/cli/freshness.ts); else the bundle while it is newer than the sources; else the sources.
 * Without rolldown (a production install) this does nothing and berth runs from the sources. A
 * snapshot that cannot be built or fails its smoke test is left out (with a note), never
 * half-made: berth then runs from the bundle.
 *
 * With `--package` (npm's prepack) it writes what the npm package runs instead, into lib/: no
 * TypeScript runs under node_modules (Node refuses to strip types there).
 *
 *   lib/cli/main.js           the CLI bundle, with no sources to check (there are none)
 *   lib/snapshot/snapshot.js  the snapshot entry, bundled; the installed package makes the blob
 *                             from it with its own node, into a cache directory (scripts/install.ts)
 *   lib/install.js            the install step: native/ built, then the blob
 *   lib/build                 the build id, one line: bin/berth names the cached blob by it
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildId, gitCommit, sourceTree } from './build-info.ts';
import { makeBlob } from './snapshot-blob.ts';
import { SNAPSHOT_FOOTER, snapshotBanner } from './snapshot-banner.ts';

const root = path.resolve(import.meta.dirname, '..');
const forPackage = process.argv.includes('--package');
const outRoot = path.join(root, forPackage ? 'lib' : 'dist');
const out = path.join(outRoot, 'cli');
const snapshotDir = path.join(outRoot, 'snapshot');
/** The node bin/berth prefers; the snapshot only works with the binary that made it. */
const node = path.join(root, 'node_modules', 'node', 'bin', 'node');

let rolldown: typeof import('rolldown').rolldown;
try {
  ({ rolldown } = await import('rolldown'));
} catch {
  if (forPackage) throw new Error('bundle --package needs rolldown (a dev dependency): run `npm ci` first');
  console.log('bundle: rolldown is not installed; berth will run from its sources');
  process.exit(0);
}

// Both outputs get this time as their mtime: a source saved while bundling counts as newer.
const started = new Date();

const sources = sourceTree(root);
const id = buildId(root, sources.files);
const transform = {
  define: {
    __BERTH_BUILD_ID__: JSON.stringify(id),
    __BERTH_BUILD__: JSON.stringify({ id, commit: gitCommit(root) }),
    // Installed, there are no sources to hand over to.
    ...(forPackage ? {} : { __BERTH_SOURCES__: JSON.stringify({ root, builtMs: started.getTime(), dirs: sources.dirs }) }),
  },
};

/**
 * Writes one bundle into `dir`, staged beside it and swapped in whole: bin/berth may pick
 * <dir>/main.js at any moment, and must never find it half-written (between the two renames it
 * finds none, and runs the sources). The bundles sit two levels below the root, like
 * src/<module>/: modules find native/ that way.
 */
async function writeBundle(dir: string, input: string, file: string): Promise<void> {
  const staged = path.join(outRoot, `.${path.basename(dir)}-${process.pid}`);
  mkdirSync(outRoot, { recursive: true });
  // What a killed run left.
  for (const name of readdirSync(outRoot)) if (name.startsWith(`.${path.basename(dir)}-`)) rmSync(path.join(outRoot, name), { recursive: true, force: true });
  const bundle = await rolldown({ input: path.join(root, input), platform: 'node', logLevel: 'warn', transform });
  await bundle.write({ dir: staged, format: 'esm', entryFileNames: file });
  await bundle.close();
  if (!existsSync(path.join(staged, file))) throw new Error(`bundle: ${path.relative(root, dir)}/${file} was not written`);
  utimesSync(path.join(staged, file), started, started);
  const retired = `${staged}-old`;
  if (existsSync(dir)) renameSync(dir, retired);
  renameSync(staged, dir);
  rmSync(retired, { recursive: true, force: true });
  console.log(`bundle: ${path.relative(root, dir)}/${file}`);
}

/** Bundles src/cli/snapshot.ts into snapshotDir as the script `node --build-snapshot` runs. */
async function bundleSnapshot(): Promise<void> {
  rmSync(snapshotDir, { recursive: true, force: true });
  const snapshotBundle = await rolldown({ input: { snapshot: path.join(root, 'src/cli/snapshot.ts') }, platform: 'node', logLevel: 'warn', transform });
  await snapshotBundle.write({
    dir: snapshotDir,
    format: 'cjs',
    entryFileNames: '[name].js',
    chunkFileNames: '[name]-[hash].cjs',
    // What V8 keeps of the bundle is its source text, read again to compile each function on first
    // call: ASCII keeps it one byte a character (one non-Latin-1 character makes V8 store all of
    // it as UTF-16), and minifying leaves less to store and to scan. Names stay for stack traces.
    charset: 'ascii',
    comments: false,
    minify: true,
    keepNames: true,
    // After minifying: the banner's names (exports, require) must stay as they are.
    postBanner: (chunk) => (chunk.isEntry ? snapshotBanner(chunk.imports.filter((id) => id.startsWith('node:'))) : ''),
    postFooter: (chunk) => (chunk.isEntry ? SNAPSHOT_FOOTER : ''),
  });
  await snapshotBundle.close();
  // The entry is a script (the chunks are .cjs anyway), whatever the root package.json says.
  writeFileSync(path.join(snapshotDir, 'package.json'), '{ "type": "commonjs" }\n');
}

await writeBundle(out, 'src/cli/main.ts', 'main.js');
if (forPackage) {
  await bundleSnapshot();
  console.log('bundle: lib/snapshot/snapshot.js');
  await writeBundle(path.join(outRoot, 'install'), 'scripts/install.ts', 'install.js');
  writeFileSync(path.join(outRoot, 'build'), `${id}\n`);
  console.log(`bundle: lib/build (${id})`);
} else {
  const reason = existsSync(node)
    ? await bundleSnapshot().then(() => {
      // bin/berth uses the snapshot only from the checkout it was built in (the bundle's paths are baked in).
      writeFileSync(path.join(snapshotDir, 'root'), `${root}\n`);
      return makeBlob(node, path.join(snapshotDir, 'snapshot.js'), path.join(snapshotDir, 'berth.blob'), started);
    }).catch((error: unknown) => `${(error as Error).message.split('\n')[0]}`)
    : 'node_modules/node is not installed';
  if (reason === undefined) console.log('bundle: dist/snapshot/berth.blob');
  else {
    rmSync(snapshotDir, { recursive: true, force: true });
    console.log(`bundle: no start-up snapshot (${reason}); berth runs from dist/cli/main.js`);
  }
}
