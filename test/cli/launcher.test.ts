import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/**
 * bin/berth picks what to run without starting a subprocess: the start-up snapshot, the bundle or
 * the sources. Here it runs in a fake checkout whose "node" prints the arguments it was given
 * (and the compile cache it was told to use).
 */
const LAUNCHER = path.resolve(import.meta.dirname, '../../bin/berth');

let root: string;
const OLD = new Date('2026-01-01T00:00:00Z');
const BUILT = new Date('2026-01-02T00:00:00Z');
const LATER = new Date('2026-01-03T00:00:00Z');

function file(rel: string, text = '', time = OLD): string {
  const target = path.join(root, rel);
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(target, text);
  utimesSync(target, time, time);
  return target;
}

function touch(rel: string, time: Date): void {
  utimesSync(path.join(root, rel), time, time);
}

function launch(args: string[], options: { env?: Record<string, string>; via?: string; cwd?: string } = {}): string[] {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...options.env };
  const out = execFileSync(options.via ?? path.join(root, 'bin/berth'), args, { env, cwd: options.cwd ?? root, encoding: 'utf8' });
  return out.trimEnd().split('\n');
}

beforeEach(() => {
  root = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'berth-launcher-')));
  mkdirSync(path.join(root, 'bin'));
  copyFileSync(LAUNCHER, path.join(root, 'bin/berth'));
  chmodSync(path.join(root, 'bin/berth'), 0o755);
  chmodSync(file('node_modules/node/bin/node', '#!/bin/sh\nfor a in "$@"; do echo "$a"; done\necho "cache=$NODE_COMPILE_CACHE"\n'), 0o755);
  file('src/cli/main.ts');
  file('src/engine/deep/er/still.ts');
  file('grammar/index.ts');
  for (const dir of ['src/engine/deep/er', 'src/engine/deep', 'src/engine', 'src/cli', 'src', 'grammar']) touch(dir, OLD);
  file('dist/cli/main.js', '', BUILT);
  file('dist/snapshot/root', `${root}\n`);
  file('dist/snapshot/berth.blob', '', BUILT);
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

const snapshot = () => ['--snapshot-blob', `${root}/dist/snapshot/berth.blob`, '--no-rehash-snapshot', '--disable-warning=ExperimentalWarning', '--', 'build', '-t', 'x', '.'];
const bundle = () => ['--disable-warning=ExperimentalWarning', `${root}/dist/cli/main.js`, 'build', '-t', 'x', '.'];
const sources = () => ['--disable-warning=ExperimentalWarning', `${root}/src/cli/main.ts`, 'build', '-t', 'x', '.'];
const ARGS = ['build', '-t', 'x', '.'];

describe('bin/berth', () => {
  it('runs the snapshot while it is usable, however the launcher is reached', () => {
    // No compile cache for the snapshot: nothing it runs is compiled by Node's module loaders.
    expect(launch(ARGS)).toEqual([...snapshot(), 'cache=']);
    expect(launch(ARGS, { via: 'bin/berth' }).slice(0, -1)).toEqual(snapshot());
    expect(launch(ARGS, { via: './bin/berth' }).slice(0, -1)).toEqual(snapshot());
    const link = path.join(root, 'elsewhere', 'berth');
    mkdirSync(path.dirname(link));
    symlinkSync(path.join(root, 'bin/berth'), link);
    expect(launch(ARGS, { via: link, cwd: os.tmpdir() }).slice(0, -1)).toEqual(snapshot());
  });

  it('leaves the check of the sources to the snapshot (src/cli/freshness.ts)', () => {
    touch('src/engine/deep/er/still.ts', LATER);
    expect(launch(ARGS).slice(0, -1)).toEqual(snapshot());
  });

  it('falls back to the bundle when the snapshot may not match', () => {
    expect(launch(ARGS, { env: { NODE_OPTIONS: '--max-old-space-size=100' } })).toEqual([...bundle(), `cache=${root}/node_modules/.cache/berth-compile`]);
    expect(launch(ARGS, { env: { NODE_OPTIONS: '--x', NODE_COMPILE_CACHE: '/elsewhere' } }).at(-1)).toBe('cache=/elsewhere');
    touch('node_modules/node/bin/node', LATER);
    expect(launch(ARGS).slice(0, -1)).toEqual(bundle());
    touch('node_modules/node/bin/node', OLD);
    file('dist/snapshot/root', '/some/other/checkout\n');
    expect(launch(ARGS).slice(0, -1)).toEqual(bundle());
    rmSync(path.join(root, 'dist/snapshot'), { recursive: true });
    expect(launch(ARGS).slice(0, -1)).toEqual(bundle());
  });

  it('runs the sources instead of the bundle once any of them is newer, down to deep directories', () => {
    rmSync(path.join(root, 'dist/snapshot'), { recursive: true });
    touch('src/engine/deep/er/still.ts', LATER);
    expect(launch(ARGS).slice(0, -1)).toEqual(sources());
    touch('src/engine/deep/er/still.ts', OLD);
    expect(launch(ARGS).slice(0, -1)).toEqual(bundle());
    file('grammar/new.ts', '', OLD); // the directory changed when the file came
    expect(launch(ARGS).slice(0, -1)).toEqual(sources());
    touch('grammar', OLD);
    expect(launch(ARGS).slice(0, -1)).toEqual(bundle());
    rmSync(path.join(root, 'dist'), { recursive: true });
    expect(launch(ARGS).slice(0, -1)).toEqual(sources());
  });

  it('passes arguments through untouched', () => {
    const odd = ['--help', '', 'a b', '-- x', '$HOME', '*'];
    expect(launch(odd).slice(0, -1)).toEqual(['--snapshot-blob', `${root}/dist/snapshot/berth.blob`, '--no-rehash-snapshot', '--disable-warning=ExperimentalWarning', '--', ...odd]);
  });
});
