import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanCopy, npmEnv, ok, pack, run, scratchContext } from './harness.ts';

/**
 * The npm package as a user gets it: packed from a clean copy, installed globally into a prefix
 * of its own (and run through npx), then berth builds, runs and saves an image FROM scratch from
 * that install. HOME is the test's, so the start-up snapshot lands in its cache; npm's cache is
 * the machine's, so the dependencies come from it where they can.
 */
let dir: string;
let tarball: string;
let env: Record<string, string>;
const NPM_CACHE = process.env.npm_config_cache ?? path.join(os.homedir(), '.npm');

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-install-'));
  tarball = pack(cleanCopy(path.join(dir, 'copy')), path.join(dir, 'packed'));
  env = { ...npmEnv(), HOME: path.join(dir, 'home'), PATH: process.env.PATH ?? '/usr/bin:/bin', npm_config_cache: NPM_CACHE, npm_config_update_notifier: 'false', BERTH_ROOT: path.join(dir, 'store') };
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Every file under `root`, relative, leaving out the package's own node_modules. */
function walk(root: string, rel = ''): string[] {
  return readdirSync(path.join(root, rel), { withFileTypes: true }).flatMap((entry) => {
    const name = path.join(rel, entry.name);
    if (entry.isDirectory()) return name === 'node_modules' ? [] : walk(root, name);
    return [name];
  });
}

describe('the npm package', () => {
  it('holds what runs and no test, bench or fixture file', () => {
    const listed = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n').map((name) => name.replace(/^package\//, ''));
    expect(listed).toContain('bin/berth');
    expect(listed).toContain('lib/cli/main.js');
    expect(listed).toContain('lib/snapshot/snapshot.js');
    expect(listed).toContain('lib/install/install.js');
    expect(listed).toContain('native/Makefile');
    expect(listed.filter((name) => /^(test|bench|fixtures|src|scripts|notes)\//.test(name) || name.endsWith('.ts'))).toEqual([]);
  });

  it('installs globally into a prefix and builds, runs and saves from there, starting from its snapshot', () => {
    const prefix = path.join(dir, 'prefix');
    ok(run('npm', ['install', '-g', '--prefer-offline', '--no-audit', '--no-fund', '--prefix', prefix, tarball], { env }), 'npm install -g');
    const berth = path.join(prefix, 'bin/berth');
    const installed = path.join(prefix, 'lib/node_modules/berth');
    expect(walk(installed).filter((name) => name.endsWith('.ts'))).toEqual([]);
    expect(statSync(path.join(installed, 'native/build/berth-sandbox')).mode & 0o111).not.toBe(0);

    // PATH without the checkout's node_modules/.bin: the package brings its node.
    const user = { ...env, PATH: `${path.join(prefix, 'bin')}:/usr/bin:/bin` };
    const version = ok(run('berth', ['version'], { env: user }), 'berth version');
    expect(version).toMatch(/^node: v24\./m);
    expect(version).toContain(`runs from: start-up snapshot ${env.HOME}/.cache/berth/snapshot${installed}/`);

    const context = scratchContext(path.join(dir, 'ctx'));
    ok(run(berth, ['build', '-t', 'scratchy', context], { env: user }), 'berth build');
    expect(ok(run(berth, ['run', '--rm', 'scratchy'], { env: user }), 'berth run')).toBe('built from scratch\n');
    ok(run(berth, ['save', 'scratchy', '-o', path.join(dir, 'scratchy.tar')], { env: user }), 'berth save');
    expect(execFileSync('tar', ['-tf', path.join(dir, 'scratchy.tar')], { encoding: 'utf8' })).toContain('manifest.json');

    // A cleared cache: the run goes on from lib/ and makes the snapshot again, in the background.
    rmSync(path.join(env.HOME!, '.cache/berth'), { recursive: true });
    expect(ok(run(berth, ['version'], { env: user }), 'berth version')).toContain(`runs from: bundle ${installed}/lib/cli/main.js`);
    const deadline = Date.now() + 30_000;
    while (!ok(run(berth, ['version'], { env: user }), 'berth version').includes('start-up snapshot') && Date.now() < deadline) execFileSync('sleep', ['0.5']);
    expect(ok(run(berth, ['version'], { env: user }), 'berth version')).toContain('runs from: start-up snapshot');
  }, 60_000);

  it('runs through npx from the tarball', () => {
    const out = ok(run('npx', ['--yes', '--prefer-offline', '--package', tarball, 'berth', '--version'], { env, cwd: dir }), 'npx berth');
    expect(out).toMatch(/^\d+\.\d+\.\d+ \(build [0-9a-f]{12}\)\n$/);
  }, 60_000);

  it('fails to install without a C compiler, saying so, and leaves no berth command behind', () => {
    const prefix = path.join(dir, 'no-cc');
    const result = run('npm', ['install', '-g', '--prefer-offline', '--no-audit', '--no-fund', '--prefix', prefix, tarball], { env: { ...env, CC: path.join(dir, 'no-such-cc') } });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('berth: cannot install: its native helper is C, and there is no C compiler');
    expect(existsSync(path.join(prefix, 'lib/node_modules/berth'))).toBe(false);
    expect(() => lstatSync(path.join(prefix, 'bin/berth'))).toThrow(/ENOENT/);
  }, 60_000);
});
