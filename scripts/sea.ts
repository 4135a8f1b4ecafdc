/**
 * `npm run dist`: berth as one self-contained executable, dist/berth, made with Node's single
 * executable applications: the node binary of node_modules with a blob injected (postject, a dev
 * dependency) that holds berth's start-up snapshot (src/cli/sea.ts, bundled into one script with
 * everything it imports) and the native helper and addon as assets (src/cli/sea-native.ts writes
 * them out at run time, into a cache directory named by their digests). Nothing else is needed
 * where it runs: no node, no node_modules, no compiler.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { rolldown, type Plugin } from 'rolldown';
import { buildId, gitCommit, sourceTree } from './build-info.ts';
import { LAZY_BUILTINS, SNAPSHOT_FOOTER, snapshotBanner } from './snapshot-banner.ts';

const root = path.resolve(import.meta.dirname, '..');
const node = path.join(root, 'node_modules/node/bin/node');
/** `--out FILE` (the tests): somewhere else than dist/berth. */
const outAt = process.argv.indexOf('--out');
const output = path.resolve(outAt >= 0 && process.argv[outAt + 1] ? process.argv[outAt + 1]! : path.join(root, 'dist/berth'));
const work = `${output}.work`;
const NATIVE = { 'berth-sandbox': path.join(root, 'native/build/berth-sandbox'), 'berth_sys.node': path.join(root, 'native/build/berth_sys.node') };
/** Node's fuse for the injected blob (the single executable applications docs). */
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

for (const file of Object.values(NATIVE)) if (!existsSync(file)) throw new Error(`sea: ${file} is not built: run \`make -C native\``);

/**
 * The bundle has no node_modules beside it: what src/layer/compression.ts loads with a lazy
 * require (the bzip2 and xz decoders, pure JavaScript) is imported instead, so it is bundled.
 */
function bundleLazyRequires(): Plugin {
  return {
    name: 'berth-sea-lazy-requires',
    transform(code, id) {
      if (!id.endsWith('src/layer/compression.ts')) return undefined;
      const lazy = ['unbzip2-stream', 'xz-decompress'];
      let next = code;
      lazy.forEach((name, index) => {
        const call = `require('${name}')`;
        if (!next.includes(call)) throw new Error(`sea: ${id} no longer has ${call}; update scripts/sea.ts`);
        next = `import * as __berthLazy${index} from '${name}';\n${next.replaceAll(call, `(__berthLazy${index}.default ?? __berthLazy${index})`)}`;
      });
      return next;
    },
  };
}

/**
 * Lazy here too (see snapshotBanner): the registry client's modules, bundled into the one script
 * instead of a chunk of their own. Loaded while the snapshot is built, they leave handles open
 * that V8 cannot serialize (CheckGlobalAndEternalHandles).
 */
const SEA_LAZY_BUILTINS = [...LAZY_BUILTINS, 'node:http', 'node:https', 'node:net', 'node:tls', 'node:tty', 'node:dns', 'url', 'stream/web'];

const digest = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
const sources = sourceTree(root);
const id = buildId(root, sources.files);
const commit = gitCommit(root);

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
mkdirSync(path.dirname(output), { recursive: true });
const bundle = await rolldown({
  input: path.join(root, 'src/cli/sea.ts'),
  platform: 'node',
  logLevel: 'warn',
  plugins: [bundleLazyRequires()],
  transform: {
    define: {
      __BERTH_BUILD_ID__: JSON.stringify(id),
      __BERTH_BUILD__: JSON.stringify({ id, commit, executable: true }),
      __BERTH_NATIVE_DIGESTS__: JSON.stringify(Object.fromEntries(Object.entries(NATIVE).map(([name, file]) => [name, digest(file)]))),
    },
  },
});
await bundle.write({
  file: path.join(work, 'berth.js'),
  format: 'cjs',
  codeSplitting: false,
  charset: 'ascii',
  comments: false,
  minify: true,
  keepNames: true,
  postBanner: (chunk) => snapshotBanner(chunk.imports.filter((name) => isBuiltin(name))),
  postFooter: () => SNAPSHOT_FOOTER,
});
await bundle.close();

const config = path.join(work, 'sea-config.json');
const blob = path.join(work, 'berth.blob');
writeFileSync(config, `${JSON.stringify({
  main: path.join(work, 'berth.js'),
  output: blob,
  disableExperimentalSEAWarning: true,
  useSnapshot: true,
  assets: NATIVE,
}, null, 2)}\n`);
const keys = execFileSync(node, ['-p', `JSON.stringify(Object.fromEntries(${JSON.stringify(SEA_LAZY_BUILTINS)}.map((id) => [id, Object.getOwnPropertyNames(require(id))])))`], { env: {}, encoding: 'utf8' });
const made = spawnSync(node, ['--no-warnings', '--experimental-sea-config', config], { cwd: work, env: { BERTH_SNAPSHOT_LAZY_KEYS: keys.trim() }, encoding: 'utf8' });
if (made.status !== 0 || !existsSync(blob)) throw new Error(`sea: making the blob failed: ${made.stderr}`);

const temp = `${output}.tmp`;
copyFileSync(node, temp);
chmodSync(temp, 0o755);
const postject = path.join(root, 'node_modules/postject/dist/cli.js');
// postject warns about ELF note sections it does not know; its errors throw with the output.
execFileSync(node, [postject, temp, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', FUSE], { stdio: 'pipe' });
const version = spawnSync(temp, ['--version'], { encoding: 'utf8', env: { PATH: '/nonexistent' } });
if (version.status !== 0) throw new Error(`sea: the executable does not run: ${version.stderr}`);
renameSync(temp, output);
rmSync(work, { recursive: true, force: true });
console.log(`sea: ${path.relative(process.cwd(), output)} (${version.stdout.trim()})`);
