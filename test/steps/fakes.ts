/**
 * A fake snapshotter and fake executors for the step pipeline's unit tests: no overlay, no
 * container, no root. The snapshotter keeps committed snapshots as plain file maps and stores each
 * layer as a real blob (so the cache's "is the blob there" rule is the real one); the executors
 * write files into the upper dir, count their runs and can wait, fail or be cancelled.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openContentStore, writeBlob, type ContentStore } from '../../src/content/index.ts';
import { executePlan, type BaseImage, type BuildRequest } from '../../src/engine/build.ts';
import type { Progress } from '../../src/progress/index.ts';
import { parseDockerfile } from '../../src/syntax/index.ts';
import { planBuild, type PlanOptions, type Vertex } from '../../src/plan/index.ts';
import type { ActiveSnapshot, Snapshotter } from '../../src/snapshot/snapshotter.ts';
import { chainIdOf, type ChainLayer } from '../../src/snapshot/snapshots.ts';
import { ensureStore, storeLayout, type StoreLayout } from '../../src/store/layout.ts';
import { keyedRun } from '../../src/steps/run.ts';
import type { StepKinds, VertexResult } from '../../src/steps/types.ts';

export interface FakeSnapshotter extends Snapshotter {
  /** Files of each committed snapshot, by chain id. */
  committed: Map<string, Map<string, string>>;
  /** Active snapshots not removed yet. */
  active: Set<string>;
  leased: boolean;
}

function filesOf(dir: string, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = prefix + name.name;
    if (name.isDirectory()) for (const [k, v] of filesOf(path.join(dir, name.name), `${rel}/`)) out.set(k, v);
    else out.set(rel, readFileSync(path.join(dir, name.name), 'utf8'));
  }
  return out;
}

export function fakeSnapshotter(layout: StoreLayout, content: ContentStore): FakeSnapshotter {
  const committed = new Map<string, Map<string, string>>();
  const active = new Set<string>();
  const fake: FakeSnapshotter = {
    committed, active, leased: true,
    view: (chain) => Promise.resolve(chain.length ? chain.map((l) => `/fake/${l.chainId}`).reverse() : ['/fake/empty']),
    prepare(chain, purpose) {
      const dir = path.join(layout.tmp, `${purpose}-${process.pid}-${randomBytes(6).toString('hex')}`);
      mkdirSync(path.join(dir, 'upper'), { recursive: true });
      active.add(dir);
      const snapshot: ActiveSnapshot = {
        dir, upperDir: path.join(dir, 'upper'), workDir: path.join(dir, 'work'),
        lowerDirs: chain.map((l) => `/fake/${l.chainId}`).reverse(), parentChainId: chain.at(-1)?.chainId,
      };
      return Promise.resolve(snapshot);
    },
    async commit(snapshot) {
      const files = filesOf(snapshot.upperDir);
      if (files.size === 0) return undefined;
      const blob = await writeBlob(content, JSON.stringify([...files]));
      const layer: ChainLayer = {
        diffId: blob.digest, blobDigest: blob.digest, blobSize: blob.size, mediaType: 'application/vnd.oci.image.layer.v1.tar',
        chainId: chainIdOf(snapshot.parentChainId, blob.digest),
      };
      committed.set(layer.chainId, files);
      return layer;
    },
    remove(snapshot) {
      rmSync(snapshot.dir, { recursive: true, force: true });
      active.delete(snapshot.dir);
    },
    pathOf: (chainId) => `/fake/${chainId}`,
    release() {
      fake.leased = false;
    },
  };
  return fake;
}

/** What a fake RUN does, by its command text (`RUN <text>`). */
export interface RunScript {
  /** Resolves when the step may finish (default: at once). */
  gate?: Promise<void>;
  fail?: string;
  /** Runs until cancelled. */
  hang?: boolean;
  /** File content written (default: the command text); a function for outputs that differ per run. */
  output?: () => string;
}

export interface FakeKinds extends StepKinds {
  /** How often each command ran (built, not taken from the cache). */
  runs: Map<string, number>;
  /** Commands stopped by cancellation. */
  cancelled: string[];
}

function waitForAbort(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_, reject) => {
    if (!signal) return;
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/** Fake executors: RUN writes `/<command>`; COPY and WORKDIR write a file named after the op. */
export function fakeKinds(scripts: Record<string, RunScript> = {}): FakeKinds {
  const runs = new Map<string, number>();
  const cancelled: string[] = [];
  const count = (name: string) => runs.set(name, (runs.get(name) ?? 0) + 1);
  const file = (name: string) => name.replace(/[^A-Za-z0-9.-]+/g, '_');
  return {
    runs, cancelled,
    run: (ctx) => {
      const op = ctx.vertex.op;
      if (op.kind !== 'run') throw new Error('not a run');
      const name = op.argv.at(-1) ?? '';
      const script = scripts[name] ?? {};
      return Promise.resolve({
        keyed: keyedRun(op), digests: [],
        async execute(active) {
          count(name);
          if (script.hang) {
            try {
              await waitForAbort(ctx.services.signal);
            } catch (error) {
              cancelled.push(name);
              throw error;
            }
          }
          await script.gate;
          if (script.fail) throw new Error(script.fail);
          writeFileSync(path.join(active.upperDir, file(name)), script.output?.() ?? name);
        },
      });
    },
    copy: (ctx) => {
      const op = ctx.vertex.op;
      if (op.kind !== 'copy') throw new Error('not a copy');
      return Promise.resolve({
        keyed: { ...op }, digests: ['fake-sources'],
        execute: async (active) => {
          count(`COPY ${op.dest}`);
          writeFileSync(path.join(active.upperDir, file(op.dest)), op.sources.join(' '));
        },
      });
    },
    workdir: (ctx) => {
      const op = ctx.vertex.op;
      if (op.kind !== 'workdir') throw new Error('not a workdir');
      return Promise.resolve({
        keyed: { ...op }, digests: [],
        execute: async (active) => {
          count(`WORKDIR ${op.path}`);
          mkdirSync(path.join(active.upperDir, op.path), { recursive: true });
        },
      });
    },
  };
}

/** Progress that remembers what happened to each step label. */
export function recordingProgress(): Progress & { events: string[] } {
  const names = new Map<number, string>();
  const events: string[] = [];
  let next = 1;
  return {
    events,
    start(name) {
      names.set(next, name);
      return next++;
    },
    log() {},
    status() {},
    message() {},
    warning() {},
    expect() {},
    cached: (step) => events.push(`CACHED ${names.get(step)}`),
    done: (step) => events.push(`DONE ${names.get(step)}`),
    error: (step, message) => events.push(`ERROR ${names.get(step)}: ${message}`),
    canceled: (step) => events.push(`CANCELED ${names.get(step)}`),
    close() {},
  };
}

export interface FakeStore {
  dir: string;
  layout: StoreLayout;
  content: ContentStore;
  cleanup(): void;
}

export function fakeStore(): FakeStore {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-pipeline-'));
  const layout = ensureStore(storeLayout(path.join(dir, 'store')));
  return { dir, layout, content: openContentStore(layout.root), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const BASE: BaseImage = { id: 'sha256:base', chain: [], config: {}, history: [] };

export interface FakeBuild {
  done: Promise<VertexResult>;
  progress: ReturnType<typeof recordingProgress>;
  snapshots: FakeSnapshotter;
}

/** Plans `dockerfile` and runs it through the real engine with fake snapshots and executors. */
export async function fakeBuild(
  store: FakeStore, dockerfile: string, kinds: FakeKinds,
  options: Partial<BuildRequest> & { planOptions?: PlanOptions } = {},
): Promise<FakeBuild> {
  const { planOptions, ...request } = options;
  const plan = await planBuild(parseDockerfile(dockerfile, 'Dockerfile'), planOptions ?? {});
  const progress = recordingProgress();
  const snapshots = fakeSnapshotter(store.layout, store.content);
  const done = executePlan({
    layout: store.layout, content: store.content, plan, noCache: false, progress, jobs: 4,
    resolveBase: (_ref: string, _vertex: Vertex) => Promise.resolve(BASE),
    ...request, snapshotter: snapshots, kinds,
  });
  done.catch(() => {});
  return { done, progress, snapshots };
}
