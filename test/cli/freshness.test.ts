import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runFromSources, sourcesChanged, type SnapshotSources } from '../../src/cli/freshness.ts';

/**
 * The start-up snapshot checks its sources itself (bin/berth no longer does) and hands over to
 * them when one changed: the check on a fake checkout, the hand-over with a fake main script.
 */
let root: string;

beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'berth-freshness-'));
  mkdirSync(path.join(root, 'src/cli'), { recursive: true });
  writeFileSync(path.join(root, 'src/cli/main.ts'), '');
  writeFileSync(path.join(root, 'src/cli/other.ts'), '');
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('sourcesChanged', () => {
  // As scripts/bundle.ts bakes it, taken between pauses longer than the kernel clock's tick.
  const bake = async (): Promise<SnapshotSources> => {
    await pause(30);
    const sources: SnapshotSources = { root, builtMs: Date.now(), dirs: [['src', 'cli'], ['src/cli', 'main.ts\0other.ts']] };
    await pause(30);
    return sources;
  };

  it('is false while nothing changed since the build', async () => {
    expect(sourcesChanged(await bake())).toBe(false);
  });

  it('sees an edited file, even one whose mtime was set back', async () => {
    const sources = await bake();
    writeFileSync(path.join(root, 'src/cli/other.ts'), 'x');
    utimesSync(path.join(root, 'src/cli/other.ts'), new Date(0), new Date(0));
    expect(sourcesChanged(sources)).toBe(true);
  });

  it('sees an added, a removed and a renamed file, and a directory gone', async () => {
    let sources = await bake();
    writeFileSync(path.join(root, 'src/cli/new.ts'), '');
    expect(sourcesChanged(sources)).toBe(true);
    rmSync(path.join(root, 'src/cli/new.ts'));
    sources = await bake();
    rmSync(path.join(root, 'src/cli/other.ts'));
    expect(sourcesChanged(sources)).toBe(true);
    writeFileSync(path.join(root, 'src/cli/other.ts'), '');
    sources = await bake();
    renameSync(path.join(root, 'src/cli/other.ts'), path.join(root, 'src/cli/renamed.ts'));
    expect(sourcesChanged(sources)).toBe(true);
    rmSync(path.join(root, 'src/cli'), { recursive: true });
    expect(sourcesChanged(sources)).toBe(true);
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
