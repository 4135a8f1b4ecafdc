/**
 * The step pipeline's cache decisions, driven through the real engine (planner, scheduler, cache
 * records, content store) with a fake snapshotter and fake executors: no root, no containers.
 */
import { rmSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blobPath } from '../../src/content/index.ts';
import { fakeBuild, fakeKinds, fakeStore, type FakeStore } from './fakes.ts';

let store: FakeStore;
beforeEach(() => {
  store = fakeStore();
});
afterEach(() => store.cleanup());

const TWO_STEPS = 'FROM scratch\nRUN one\nRUN two\n';

describe('cache hits and misses', () => {
  it('builds every step once, then takes every step from the cache with the same result', async () => {
    const kinds = fakeKinds();
    const first = await fakeBuild(store, TWO_STEPS, kinds);
    const built = await first.done;
    expect(Object.fromEntries(kinds.runs)).toEqual({ one: 1, two: 1 });
    expect(first.progress.events).toEqual(['DONE [1/2] RUN one', 'DONE [2/2] RUN two']);
    const second = await fakeBuild(store, TWO_STEPS, kinds);
    const cached = await second.done;
    expect(Object.fromEntries(kinds.runs)).toEqual({ one: 1, two: 1 });
    expect(second.progress.events).toEqual(['CACHED [1/2] RUN one', 'CACHED [2/2] RUN two']);
    expect(cached).toEqual(built);
    expect(second.snapshots.active.size).toBe(0);
    expect(second.snapshots.leased).toBe(false);
  });

  it('rebuilds a changed step and everything after it, not what comes before', async () => {
    const kinds = fakeKinds();
    await (await fakeBuild(store, 'FROM scratch\nRUN one\nRUN two\nRUN three\n', kinds)).done;
    const changed = await fakeBuild(store, 'FROM scratch\nRUN one\nRUN TWO\nRUN three\n', kinds);
    await changed.done;
    expect(Object.fromEntries(kinds.runs)).toEqual({ one: 1, two: 1, TWO: 1, three: 2 });
    expect(changed.progress.events[0]).toBe('CACHED [1/3] RUN one');
  });

  it('keys the network a RUN runs with: none, sandbox and host never stand for each other', async () => {
    const kinds = fakeKinds();
    for (const flag of ['--network=none', '--network=host', '', '--network=none']) {
      await (await fakeBuild(store, `FROM scratch\nRUN ${flag} fetch\n`, kinds, { allow: ['network.host'] })).done;
    }
    expect(kinds.runs.get('fetch')).toBe(3);
  });

  it('does not use a record whose layer blob is gone (pruned): the step is built again', async () => {
    const kinds = fakeKinds();
    const built = await (await fakeBuild(store, TWO_STEPS, kinds)).done;
    rmSync(blobPath(store.content, built.chain[1].blobDigest));
    await (await fakeBuild(store, TWO_STEPS, kinds)).done;
    expect(Object.fromEntries(kinds.runs)).toEqual({ one: 1, two: 2 });
  });

  it('does not stack a recorded child on a parent that was rebuilt with other contents', async () => {
    let serial = 0;
    const kinds = fakeKinds({ seed: { output: () => `seed ${serial++}` } });
    const dockerfile = 'FROM scratch AS a\nRUN seed\nFROM a\nRUN child\n';
    await (await fakeBuild(store, dockerfile, kinds)).done;
    // Stage a ignores the cache: its new layer differs, so the child's record (same key) must not be reused.
    const again = await fakeBuild(store, dockerfile, kinds, { noCacheStages: new Set(['a']) });
    const result = await again.done;
    expect(Object.fromEntries(kinds.runs)).toEqual({ seed: 2, child: 2 });
    expect(again.snapshots.committed.get(result.chain[0].chainId)?.get('seed')).toBe('seed 1');
  });
});

describe('--no-cache and --no-cache-filter', () => {
  it('--no-cache builds every step and its records replace the old ones', async () => {
    let serial = 0;
    const kinds = fakeKinds({ one: { output: () => `one ${serial++}` } });
    await (await fakeBuild(store, TWO_STEPS, kinds)).done;
    const fresh = await (await fakeBuild(store, TWO_STEPS, kinds, { noCache: true })).done;
    expect(Object.fromEntries(kinds.runs)).toEqual({ one: 2, two: 2 });
    const later = await fakeBuild(store, TWO_STEPS, kinds);
    expect(await later.done).toEqual(fresh);
    expect(later.progress.events).toEqual(['CACHED [1/2] RUN one', 'CACHED [2/2] RUN two']);
  });

  it('--no-cache-filter rebuilds only the named stage (by name or index)', async () => {
    const kinds = fakeKinds();
    const dockerfile = 'FROM scratch AS deps\nRUN deps\nFROM scratch AS app\nRUN app\nCOPY --from=deps /deps /deps\n';
    await (await fakeBuild(store, dockerfile, kinds)).done;
    await (await fakeBuild(store, dockerfile, kinds, { noCacheStages: new Set(['app']) })).done;
    expect(Object.fromEntries(kinds.runs)).toEqual({ deps: 1, app: 2, 'COPY /deps': 2 });
    await (await fakeBuild(store, dockerfile, kinds, { noCacheStages: new Set(['0']) })).done;
    expect(Object.fromEntries(kinds.runs)).toEqual({ deps: 2, app: 2, 'COPY /deps': 2 });
  });
});

describe('two builds of the same step at once (record race)', () => {
  it('the first to finish decides: the second build gives up its own layer and takes the first one\'s', async () => {
    let serial = 0;
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => { openGate = resolve; });
    const slow = fakeKinds({ step: { gate, output: () => `slow ${serial++}` } });
    const fast = fakeKinds({ step: { output: () => `fast ${serial++}` } });
    const dockerfile = 'FROM scratch\nRUN step\nRUN after\n';
    const first = await fakeBuild(store, dockerfile, slow);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = await fakeBuild(store, dockerfile, fast);
    const fastResult = await second.done;
    openGate();
    const slowResult = await first.done;
    expect(slow.runs.get('step')).toBe(1);
    expect(slowResult.chain[0]).toEqual(fastResult.chain[0]);
    expect(slowResult).toEqual(fastResult);
    // The slow build ran its step but built nothing on its own layer: `after` came from the record.
    expect(slow.runs.get('after')).toBeUndefined();
  });
});

describe('failure and cancellation', () => {
  it('a failing step cancels the steps running beside it and fails the build with its own error', async () => {
    const kinds = fakeKinds({ forever: { hang: true }, broken: { fail: 'exit code: 1' } });
    const dockerfile = 'FROM scratch AS slow\nRUN forever\nFROM scratch AS bad\nRUN broken\nFROM scratch\nCOPY --from=slow /a /a\nCOPY --from=bad /b /b\n';
    const build = await fakeBuild(store, dockerfile, kinds);
    const started = Date.now();
    await expect(build.done).rejects.toThrow('exit code: 1');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(kinds.cancelled).toEqual(['forever']);
    expect(build.progress.events).toContain('ERROR [bad 1/1] RUN broken: exit code: 1');
    expect(build.progress.events).toContain('CANCELED [slow 1/1] RUN forever');
    expect(build.snapshots.active.size).toBe(0);
    expect(build.snapshots.leased).toBe(false);
    // Nothing of the failed or cancelled steps was recorded: a rebuild runs both again.
    const retry = fakeKinds();
    await (await fakeBuild(store, dockerfile, retry)).done;
    expect(Object.fromEntries(retry.runs)).toMatchObject({ forever: 1, broken: 1 });
  });

  it('an interrupted build (its signal aborted) stops the running step and records nothing', async () => {
    const kinds = fakeKinds({ forever: { hang: true } });
    const abort = new AbortController();
    const build = await fakeBuild(store, 'FROM scratch\nRUN forever\n', kinds, { signal: abort.signal });
    setTimeout(() => abort.abort(new Error('interrupted')), 20);
    await expect(build.done).rejects.toThrow('interrupted');
    expect(build.progress.events).toEqual(['CANCELED [1/1] RUN forever']);
    expect(build.snapshots.active.size).toBe(0);
  });
});
