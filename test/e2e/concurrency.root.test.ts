import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countOutcome, makeSandbox, type Sandbox } from './harness.ts';

// Two berth processes on one store at once: builds with each other, and prune with a build.
let sb: Sandbox;
beforeAll(async () => { sb = await makeSandbox(); }, 120_000);
afterAll(() => sb?.cleanup());

function waitForOutput(child: ReturnType<Sandbox['spawnBerth']>, text: string): Promise<void> {
  return new Promise((resolve) => {
    let seen = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(text)) resolve();
    });
  });
}

function exitOf(child: ReturnType<Sandbox['spawnBerth']>): Promise<number | null> {
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

describe('concurrent use of one store', () => {
  it('runs two builds at once, sharing steps, without corruption or duplicate blobs', async () => {
    // The shared step's output differs from run to run (a random stamp), as real steps' often do.
    const shared = 'FROM busybox:local\nRUN echo shared > /shared && cat /proc/sys/kernel/random/uuid > /stamp && sleep 1\n';
    const a = sb.context({ Dockerfile: `${shared}RUN echo a > /who\n` });
    const b = sb.context({ Dockerfile: `${shared}RUN echo b > /who\n` });
    const [ra, rb] = await Promise.all([
      sb.berth(['build', '-t', 'conc/a', a]),
      sb.berth(['build', '-t', 'conc/b', b]),
    ]);
    expect(ra.code).toBe(0);
    expect(rb.code).toBe(0);
    expect((await sb.berth(['run', '--rm', 'conc/a', 'cat', '/shared', '/who'])).stdout).toBe('shared\na\n');
    expect((await sb.berth(['run', '--rm', 'conc/b', 'cat', '/shared', '/who'])).stdout).toBe('shared\nb\n');
    // Whichever finished the shared step first decided it for both (the other adopted its record).
    const layers = async (tag: string) => (JSON.parse((await sb.berth(['inspect', tag])).stdout) as Array<{ RootFS: { Layers: string[] } }>)[0].RootFS.Layers;
    expect((await layers('conc/a'))[1]).toBe((await layers('conc/b'))[1]);
    const blobs = readdirSync(path.join(sb.root, 'blobs', 'sha256'));
    expect(blobs.every((name) => /^[0-9a-f]{64}$/.test(name))).toBe(true);
    // Rebuilding either is fully cached afterwards.
    const again = await sb.berth(['build', '--progress', 'plain', '-t', 'conc/a', a]);
    expect(countOutcome(again.stderr, 'DONE')).toBe(0);
    expect(countOutcome(again.stderr, 'CACHED')).toBe(2);
  });

  it('makes prune wait for a running build and never removes what an image needs', async () => {
    const ctx = sb.context({ Dockerfile: 'FROM busybox:local\nRUN echo run""ning && sleep 2 && echo done > /d\n' });
    const build = sb.spawnBerth(['build', '--no-cache', '--progress', 'plain', '-t', 'conc/slow', ctx]);
    await waitForOutput(build, 'running');
    const prune = sb.spawnBerth(['prune', '--all']);
    const pruneOutput = waitForOutput(prune, 'waiting for running builds');
    await pruneOutput;
    expect(await exitOf(build)).toBe(0);
    expect(await exitOf(prune)).toBe(0);
    expect((await sb.berth(['run', '--rm', 'conc/slow', 'cat', '/d'])).stdout).toBe('done\n');
    expect((await sb.berth(['run', '--rm', 'conc/a', 'cat', '/who'])).stdout).toBe('a\n');
  });
});
