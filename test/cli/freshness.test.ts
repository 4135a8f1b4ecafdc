import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runFromSources, sourcesChanged, type SnapshotSources } from '../../src/cli/freshness.ts';

/**
 * The start-up snapshot checks its sources itself (bin/berth no longer does) and hands over to
 * them when one changed: the check on a fake checkout, the hand-over with a fake main script.
 */
let root: string;
const BUILT = new Date('2026-01-02T00:00:00Z');
const OLD = new Date('2026-01-01T00:00:00Z');
const LATER = new Date('2026-01-03T00:00:00Z');

function at(rel: string, time: Date): void {
  utimesSync(path.join(root, rel), time, time);
}

beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'berth-freshness-'));
  mkdirSync(path.join(root, 'src/cli'), { recursive: true });
  writeFileSync(path.join(root, 'src/cli/main.ts'), '');
  for (const rel of ['src/cli/main.ts', 'src/cli', 'src']) at(rel, OLD);
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('sourcesChanged', () => {
  const baked = (): SnapshotSources => ({ root, builtMs: BUILT.getTime(), paths: ['src', 'src/cli', 'src/cli/main.ts'] });

  it('is false while every listed path is older than the build', () => {
    expect(sourcesChanged(baked())).toBe(false);
  });

  it('sees an edited file, an added file (by its directory) and a removed one', () => {
    at('src/cli/main.ts', LATER);
    expect(sourcesChanged(baked())).toBe(true);
    at('src/cli/main.ts', OLD);
    writeFileSync(path.join(root, 'src/cli/new.ts'), '');
    expect(sourcesChanged(baked())).toBe(true);
    rmSync(path.join(root, 'src/cli/new.ts'));
    at('src/cli', OLD);
    expect(sourcesChanged(baked())).toBe(false);
    rmSync(path.join(root, 'src/cli/main.ts'));
    at('src/cli', OLD);
    expect(sourcesChanged(baked())).toBe(true);
  });
});

describe('runFromSources', () => {
  it('runs the main script with the arguments and returns its exit status', async () => {
    const main = path.join(root, 'main.mjs');
    const out = path.join(root, 'out.json');
    writeFileSync(main, `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(out)}, JSON.stringify({ args: process.argv.slice(2), cache: process.env.NODE_COMPILE_CACHE }));\nprocess.exit(7);\n`);
    expect(await runFromSources(root, ['build', 'a b', '--', '*'], main)).toBe(7);
    const { args, cache } = JSON.parse(readFileSync(out, 'utf8')) as { args: string[]; cache: string };
    expect(args).toEqual(['build', 'a b', '--', '*']);
    expect(cache).toBe(process.env.NODE_COMPILE_CACHE ?? path.join(root, 'node_modules/.cache/berth-compile'));
  });

  it('passes on the signals it gets, and reports a signal death as 128 + its number', async () => {
    const main = path.join(root, 'wait.mjs');
    const ready = path.join(root, 'ready');
    writeFileSync(main, `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(ready)}, '');\nsetInterval(() => {}, 1000);\n`);
    const listeners = process.listenerCount('SIGTERM');
    const status = runFromSources(root, [], main);
    for (let i = 0; i < 200 && !existsSync(ready); i++) await new Promise((r) => setTimeout(r, 25));
    // As if this process had been sent SIGTERM: its handler forwards it.
    process.emit('SIGTERM', 'SIGTERM');
    expect(await status).toBe(128 + os.constants.signals.SIGTERM);
    expect(process.listenerCount('SIGTERM')).toBe(listeners);
  });
});
