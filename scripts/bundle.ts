/**
 * Bundles the CLI (rolldown, a dev dependency): one module graph instead of a hundred files to
 * resolve and strip, so every berth command starts about twice as fast. Two outputs:
 *
 *   dist/cli/main.js          an ES module bundle of src/cli/main.ts (run by bin/berth)
 *   dist/snapshot/berth.blob  a V8 start-up snapshot of src/cli/snapshot.ts: Node starts with the
 *                             whole bundle already evaluated (built-in modules loaded, Chevrotain's
 *                             parsers analysed), so nothing is compiled or run before the command
 *
 * bin/berth uses the snapshot while it is newer than node_modules' node and was built for this
 * checkout (the snapshot itself hands over to the TypeScript sources when one of them changed:
 * src/cli/freshness.ts); else the bundle while it is newer than the sources; else the sources.
 * Without rolldown (a production install) this does nothing and berth runs from the sources. A snapshot that cannot be built or fails its smoke test is left out (with a
 * note), never half-made: berth then runs from the bundle.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const out = path.join(root, 'dist', 'cli');
const snapshotDir = path.join(root, 'dist', 'snapshot');
/** The node bin/berth prefers; the snapshot only works with the binary that made it. */
const node = path.join(root, 'node_modules', 'node', 'bin', 'node');

let rolldown: typeof import('rolldown').rolldown;
try {
  ({ rolldown } = await import('rolldown'));
} catch {
  console.log('bundle: rolldown is not installed; berth will run from its sources');
  process.exit(0);
}

// Both outputs get this time as their mtime: a source saved while bundling counts as newer.
const started = new Date();

/**
 * Everything under src/ and grammar/, in one walk: the files (relative to the root, in a stable
 * order) and each directory with its entries' names, sorted and joined with NULs, as the snapshot
 * checks them before it runs (src/cli/freshness.ts).
 */
function sourceTree(): { files: string[]; dirs: Array<[string, string]> } {
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
 * the code makes them start over.
 */
function buildId(files: string[]): string {
  const hash = createHash('sha256');
  const lockfile = path.join(root, 'package-lock.json');
  for (const rel of existsSync(lockfile) ? [...files, 'package-lock.json'] : files) {
    hash.update(`${rel}\0`).update(readFileSync(path.join(root, rel))).update('\0');
  }
  return hash.digest('hex').slice(0, 32);
}

const sources = sourceTree();
const transform = {
  define: {
    __BERTH_BUILD_ID__: JSON.stringify(buildId(sources.files)),
    __BERTH_SOURCES__: JSON.stringify({ root, builtMs: started.getTime(), dirs: sources.dirs }),
  },
};

// The bundles must sit two levels below the root, like src/<module>/: modules find native/ that way.
// Written beside dist/cli and swapped in whole: bin/berth may pick dist/cli/main.js at any moment,
// and must never find it half-written (between the two renames it finds none, and runs the sources).
const staged = path.join(root, 'dist', `.cli-${process.pid}`);
mkdirSync(path.dirname(staged), { recursive: true });
// What a killed run left.
for (const name of readdirSync(path.dirname(staged))) if (name.startsWith('.cli-')) rmSync(path.join(root, 'dist', name), { recursive: true, force: true });
const bundle = await rolldown({ input: path.join(root, 'src/cli/main.ts'), platform: 'node', logLevel: 'warn', transform });
await bundle.write({ dir: staged, format: 'esm' });
await bundle.close();
if (!existsSync(path.join(staged, 'main.js'))) throw new Error('bundle: dist/cli/main.js was not written');
utimesSync(path.join(staged, 'main.js'), started, started);
const retired = `${staged}-old`;
if (existsSync(out)) renameSync(out, retired);
renameSync(staged, out);
rmSync(retired, { recursive: true, force: true });
console.log('bundle: dist/cli/main.js');

/**
 * Code around the snapshot entry chunk. `node --build-snapshot` runs a CommonJS script whose
 * `require` loads built-in modules only, and everything the script leaves in the heap is frozen
 * into the blob. So:
 *
 * - While the bundle is evaluated, reading run-time state (environment, arguments, working
 *   directory, standard streams, ids, clock, randomness, host facts) fails the snapshot build:
 *   module-level code that did would otherwise see the builder's values for ever.
 * - Lazily imported chunks (the registry client, ...) stay separate `.cjs` files, required at run
 *   time with a real `require` (made on first use); they require the entry back, which must give
 *   the snapshot's own module instance, not a second copy loaded from disk.
 * - Built-in modules a no-op build never uses (LAZY_BUILTINS) are not loaded into the snapshot:
 *   there every function of theirs would be compiled from source on first call, while loaded at
 *   run time they come with the code cache built into node, and a smaller heap deserializes
 *   faster. The bundle gets a proxy that loads the module on first use; while building, it
 *   answers for the module's export names (\`keys\`, read from the same node) without loading it,
 *   so the bundler's interop helper can copy them as getters.
 */
function snapshotBanner(builtins: string[], keys: Record<string, string[]>): string {
  return `var exports = {};
var __berthSnapshot = ((builtin) => {
  const lazyKeys = ${JSON.stringify(keys)};
  let building = true;
  const lazy = (id) => {
    let real;
    const load = () => (real ??= building ? builtin(id) : process.getBuiltinModule(id));
    return new Proxy({}, {
      get: (_, key) => load()[key],
      set: (_, key, value) => { load()[key] = value; return true; },
      has: (_, key) => key in load(),
      ownKeys: () => (building && !real ? [...lazyKeys[id]] : Reflect.ownKeys(load())),
      getOwnPropertyDescriptor: (_, key) => {
        if (building && !real) return lazyKeys[id].includes(key) ? { configurable: true, enumerable: true, writable: true, value: undefined } : undefined;
        const desc = Reflect.getOwnPropertyDescriptor(load(), key);
        return desc && { ...desc, configurable: true };
      },
    });
  };
  const modules = new Map();
  for (const id of ${JSON.stringify(builtins)}) modules.set(id, lazyKeys[id] ? lazy(id) : builtin(id));
  const violations = [];
  const restore = [];
  const fail = (name) => {
    violations.push(name);
    throw new Error(\`\${name} was used while the start-up snapshot was built: module-level code must not depend on run-time state\`);
  };
  const guard = (object, key, name) => {
    const desc = Object.getOwnPropertyDescriptor(object, key);
    if (!desc) return;
    restore.push(() => Object.defineProperty(object, key, desc));
    if (typeof desc.value === 'function') {
      const original = desc.value;
      // A reference kept at build time still works at run time.
      const wrapped = function (...args) { if (building) fail(name); return Reflect.apply(original, this, args); };
      Object.defineProperty(object, key, { ...desc, value: wrapped });
    } else {
      Object.defineProperty(object, key, { configurable: true, enumerable: desc.enumerable, get: () => fail(name), set: () => fail(name) });
    }
  };
  for (const key of ['env', 'argv', 'execArgv', 'stdout', 'stderr', 'stdin', 'pid', 'ppid', 'title', 'cwd', 'chdir', 'umask', 'hrtime', 'uptime', 'getuid', 'geteuid', 'getgid', 'getegid', 'getgroups', 'dlopen']) guard(process, key, \`process.\${key}\`);
  const os = builtin('node:os');
  for (const key of ['homedir', 'tmpdir', 'hostname', 'userInfo', 'cpus', 'availableParallelism', 'totalmem', 'freemem', 'loadavg', 'uptime', 'networkInterfaces']) guard(os, key, \`os.\${key}\`);
  const crypto = builtin('node:crypto');
  for (const key of ['randomBytes', 'randomUUID', 'randomInt', 'randomFillSync']) guard(crypto, key, \`crypto.\${key}\`);
  guard(Date, 'now', 'Date.now');
  let user;
  const load = (id) => {
    if (!user) {
      const Module = builtin('node:module');
      const entry = new Module(__filename);
      entry.filename = __filename;
      entry.exports = exports;
      entry.loaded = true;
      Module._cache[__filename] = entry;
      user = Module.createRequire(__filename);
    }
    return user(id);
  };
  return {
    require: (id) => (id.startsWith('./') ? load(id) : modules.get(id) ?? builtin(id)),
    done() {
      building = false;
      for (const undo of restore.reverse()) undo();
      if (violations.length) throw new Error(\`start-up snapshot: run-time state used at build time: \${[...new Set(violations)].join(', ')}\`);
    },
  };
})(require);
var require = __berthSnapshot.require;
`;
}

const SNAPSHOT_FOOTER = '__berthSnapshot.done();\n';

/** What a no-op build never loads (see snapshotBanner): its heaviest are child_process and zlib. */
const LAZY_BUILTINS = ['node:child_process', 'node:zlib', 'node:readline/promises', 'node:url', 'node:timers/promises', 'node:stream/promises'];

/** Builds dist/snapshot; the reason when no usable snapshot came out. */
async function buildSnapshot(): Promise<string | undefined> {
  const listed = spawnSync(node, ['-p', `JSON.stringify(Object.fromEntries(${JSON.stringify(LAZY_BUILTINS)}.map((id) => [id, Object.getOwnPropertyNames(require(id))])))`], { env: {}, encoding: 'utf8' });
  if (listed.status !== 0) return `listing built-in modules failed: ${listed.stderr.trim().split('\n')[0] ?? ''}`;
  const lazyKeys = JSON.parse(listed.stdout) as Record<string, string[]>;
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
    postBanner: (chunk) => (chunk.isEntry ? snapshotBanner(chunk.imports.filter((id) => id.startsWith('node:')), lazyKeys) : ''),
    postFooter: (chunk) => (chunk.isEntry ? SNAPSHOT_FOOTER : ''),
  });
  await snapshotBundle.close();
  // The entry is a script (the chunks are .cjs anyway), whatever the root package.json says.
  writeFileSync(path.join(snapshotDir, 'package.json'), '{ "type": "commonjs" }\n');
  // bin/berth uses the snapshot only from the checkout it was built in (the bundle's paths are baked in).
  writeFileSync(path.join(snapshotDir, 'root'), `${root}\n`);

  const temp = path.join(snapshotDir, 'berth.blob.tmp');
  const blob = path.join(snapshotDir, 'berth.blob');
  // A clean environment: nothing of the builder's (NODE_OPTIONS, compile cache, ...) gets in.
  // Without V8's code cache the blob is half the size (5 MB, not 10): reading it costs less than
  // compiling the functions a command runs.
  const config = path.join(snapshotDir, 'snapshot-config.json');
  writeFileSync(config, `${JSON.stringify({ builder: path.join(snapshotDir, 'snapshot.js'), withoutCodeCache: true })}\n`);
  const made = spawnSync(node, ['--snapshot-blob', temp, '--build-snapshot-config', config], { cwd: snapshotDir, env: {}, encoding: 'utf8' });
  if (made.status !== 0 || !existsSync(temp)) {
    const detail = `${made.stderr}`.split('\n').filter((line) => line && !/built-in module|may still work|request support|trace-warnings/.test(line));
    return `node --build-snapshot failed: ${detail.slice(0, 5).map((line) => line.slice(0, 200)).join(' / ') || made.error?.message || `status ${made.status}`}`;
  }
  // Smoke test: the command line, and the Dockerfile parser the snapshot holds ready-made.
  const check = (args: string[], input: string, expect: RegExp): string | undefined => {
    const ran = spawnSync(node, ['--snapshot-blob', temp, '--no-rehash-snapshot', '--', ...args], { cwd: snapshotDir, input, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    return ran.status === 0 && expect.test(ran.stdout) ? undefined : `berth ${args.join(' ')} from the snapshot failed: ${ran.stderr.trim().split('\n')[0] ?? ''}`;
  };
  const failed = check(['--help'], '', /Usage: berth/) ?? check(['parse', '-f', '-'], 'FROM scratch\nRUN ["echo", "hi"]\n', /run/i);
  if (failed) return failed;
  utimesSync(temp, started, started);
  renameSync(temp, blob);
  return undefined;
}

rmSync(snapshotDir, { recursive: true, force: true });
const reason = existsSync(node)
  ? await buildSnapshot().catch((error: unknown) => `${(error as Error).message.split('\n')[0]}`)
  : 'node_modules/node is not installed';
if (reason === undefined) console.log('bundle: dist/snapshot/berth.blob');
else {
  rmSync(snapshotDir, { recursive: true, force: true });
  console.log(`bundle: no start-up snapshot (${reason}); berth runs from dist/cli/main.js`);
}
