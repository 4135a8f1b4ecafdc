import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/**
 * bin/berth in an installed npm package (no src/, lib/ from prepack): the start-up snapshot in
 * the user's cache, one per install and build, else lib/cli/main.js, with one background attempt
 * at making the missing snapshot. The package's "node" here prints its arguments, and logs each
 * start to a file (the background attempt prints nowhere).
 */
const LAUNCHER = path.resolve(import.meta.dirname, '../../bin/berth');
const BUILD = '0123456789abcdef0123456789abcdef';
const OLD = new Date('2026-01-01T00:00:00Z');
const LATER = new Date('2026-01-03T00:00:00Z');

let dir: string;
let pkg: string;
let home: string;

function file(target: string, text = '', mode = 0o644): string {
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(target, text);
  chmodSync(target, mode);
  utimesSync(target, OLD, OLD);
  return target;
}

/** A package as npm lays it out under `modules`, with its node nested or hoisted beside it. */
function makePackage(modules: string, hoisted = false): string {
  const root = path.join(modules, 'berth');
  mkdirSync(path.join(root, 'bin'), { recursive: true });
  copyFileSync(LAUNCHER, path.join(root, 'bin/berth'));
  chmodSync(path.join(root, 'bin/berth'), 0o755);
  file(path.join(root, 'lib/build'), `${BUILD}\n`);
  file(path.join(root, 'lib/cli/main.js'));
  file(path.join(root, 'native/build/berth-sandbox'), '', 0o755);
  const node = hoisted ? path.join(modules, 'node/bin/node') : path.join(root, 'node_modules/node/bin/node');
  file(node, `#!/bin/sh\necho "$*" >> ${dir}/node.log\nfor a in "$@"; do echo "$a"; done\n`, 0o755);
  return root;
}

function launch(via: string, args: string[], env: Record<string, string> = {}): string[] {
  const out = execFileSync(via, args, { env: { PATH: '/usr/bin:/bin', HOME: home, ...env }, cwd: dir, encoding: 'utf8' });
  return out.trimEnd().split('\n');
}

/** The node starts logged so far, waiting a little for a background one. */
function starts(expected: number): string[] {
  const log = path.join(dir, 'node.log');
  for (let i = 0; i < 40; i++) {
    const lines = existsSync(log) ? readFileSync(log, 'utf8').trimEnd().split('\n') : [];
    if (lines.length >= expected) return lines;
    spawnSync('sleep', ['0.05']);
  }
  return existsSync(log) ? readFileSync(log, 'utf8').trimEnd().split('\n') : [];
}

beforeEach(() => {
  dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'berth-launcher-pkg-')));
  home = path.join(dir, 'home');
  pkg = makePackage(path.join(dir, 'prefix/lib/node_modules'));
  mkdirSync(path.join(dir, 'prefix/bin'));
  symlinkSync('../lib/node_modules/berth/bin/berth', path.join(dir, 'prefix/bin/berth'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const ARGS = ['build', '-t', 'x', '.'];

describe('bin/berth of an installed package', () => {
  it("runs the cached snapshot of this install's build, through npm's link", () => {
    const blob = file(`${home}/.cache/berth/snapshot${pkg}/${BUILD}.blob`);
    utimesSync(blob, LATER, LATER);
    const snapshot = ['--snapshot-blob', blob, '--no-rehash-snapshot', '--disable-warning=ExperimentalWarning', '--', ...ARGS];
    expect(launch(path.join(dir, 'prefix/bin/berth'), ARGS)).toEqual(snapshot);
    expect(launch(path.join(pkg, 'bin/berth'), ARGS)).toEqual(snapshot);
    // XDG_CACHE_HOME when it is absolute, as the spec says; a relative one is ignored.
    expect(launch(path.join(dir, 'prefix/bin/berth'), ARGS, { XDG_CACHE_HOME: 'relative' })).toEqual(snapshot);
    expect(launch(path.join(dir, 'prefix/bin/berth'), ARGS, { XDG_CACHE_HOME: `${dir}/xdg` })[1]).toBe(`${pkg}/lib/cli/main.js`);
    // A preload or V8 flag would not match the snapshot.
    expect(launch(path.join(dir, 'prefix/bin/berth'), ARGS, { NODE_OPTIONS: '--x' })).toEqual(['--disable-warning=ExperimentalWarning', `${pkg}/lib/cli/main.js`, ...ARGS]);
  });

  it('runs lib/ without a snapshot and starts one attempt at making it, again only for a newer node', () => {
    const blob = `${home}/.cache/berth/snapshot${pkg}/${BUILD}.blob`;
    const node = path.join(pkg, 'node_modules/node/bin/node');
    expect(launch(path.join(dir, 'prefix/bin/berth'), ARGS)).toEqual(['--disable-warning=ExperimentalWarning', `${pkg}/lib/cli/main.js`, ...ARGS]);
    const attempt = `${pkg}/lib/install/install.js --snapshot ${blob} ${node}`;
    expect(starts(2).sort()).toEqual([attempt, `--disable-warning=ExperimentalWarning ${pkg}/lib/cli/main.js ${ARGS.join(' ')}`].sort());
    expect(existsSync(`${blob}.tried`)).toBe(true);
    launch(path.join(dir, 'prefix/bin/berth'), ARGS);
    expect(starts(3).filter((line) => line === attempt)).toHaveLength(1);
    // A newer node than the failed attempt: one more.
    utimesSync(`${blob}.tried`, OLD, OLD);
    utimesSync(node, LATER, LATER);
    launch(path.join(dir, 'prefix/bin/berth'), ARGS);
    expect(starts(5).filter((line) => line === attempt)).toHaveLength(2);
  });

  it("finds the node npx or a project's install hoisted beside it", () => {
    const modules = path.join(dir, 'npx/node_modules');
    const root = makePackage(modules, true);
    mkdirSync(path.join(modules, '.bin'));
    symlinkSync('../berth/bin/berth', path.join(modules, '.bin/berth'));
    const blob = file(`${home}/.cache/berth/snapshot${root}/${BUILD}.blob`);
    utimesSync(blob, LATER, LATER);
    expect(launch(path.join(modules, '.bin/berth'), ARGS)[1]).toBe(blob);
  });

  it('says how to install again when npm skipped the install step', () => {
    rmSync(path.join(pkg, 'native/build'), { recursive: true });
    const result = spawnSync(path.join(dir, 'prefix/bin/berth'), ARGS, { env: { PATH: '/usr/bin:/bin', HOME: home }, encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`berth: ${pkg} is installed without its native helper`);
    expect(result.stderr).toContain('allow-scripts=berth,node');
  });
});
