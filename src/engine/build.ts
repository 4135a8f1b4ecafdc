/**
 * The build's wiring: the plan's vertices scheduled over the graph (src/solve), base images
 * resolved once per build, source and metadata vertices answered here, every filesystem step sent
 * through the one step pipeline (src/steps/pipeline.ts) with its op kind's implementation.
 */
import { existsSync } from 'node:fs';
import type { BuildPlan, HistoryEntry, ContainerConfig, Vertex } from '../plan/index.ts';
import { hasBlob, type ContentStore } from '../content/index.ts';
import type { ContextFilter } from '../context/walk.ts';
import type { StatCache } from '../context/stat-cache.ts';
import type { StoreLayout } from '../store/layout.ts';
import { runGraph } from '../solve/scheduler.ts';
import { hashKey } from '../cache/key.ts';
import { openBuildCache } from '../cache/cache.ts';
import { slotOf } from '../cache/explain.ts';
import type { MountRoot } from '../mounts/run-mounts.ts';
import type { SshAgents } from '../mounts/ssh.ts';
import type { ResourceLimits } from '../exec/cgroups.ts';
import { openSnapshotter, type Snapshotter } from '../snapshot/snapshotter.ts';
import type { ChainLayer } from '../snapshot/snapshots.ts';
import { sweepStore } from '../store/sweep.ts';
import { imageLabel, inStep, stepLabel, type Progress } from '../progress/index.ts';
import { runStep } from '../steps/pipeline.ts';
import { runStepKind } from '../steps/run.ts';
import { copyStepKind } from '../steps/copy.ts';
import { workdirStepKind } from '../steps/workdir.ts';
import type { RecordListener, StepKinds, StepServices, VertexResult } from '../steps/types.ts';

export type { VertexResult } from '../steps/types.ts';

/** A base image as the engine needs it: layers (unpackable), config and history. */
export interface BaseImage {
  /** Stable identity for cache keys (the manifest digest). */
  id: string;
  chain: ChainLayer[];
  config: ContainerConfig;
  history: HistoryEntry[];
  created?: string;
}

/** The op kinds a build runs with (tests give fakes). */
export const STEP_KINDS: StepKinds = { run: runStepKind, copy: copyStepKind, workdir: workdirStepKind };

export interface BuildRequest {
  layout: StoreLayout;
  content: ContentStore;
  plan: BuildPlan;
  contextDir?: string;
  contextFilter?: ContextFilter;
  /** Digests of context files by stat data, kept between builds. */
  statCache?: StatCache;
  /** Stages (by name or index) whose steps ignore the cache (--no-cache-filter). */
  noCacheStages?: ReadonlySet<string>;
  noCache: boolean;
  progress: Progress;
  jobs: number;
  signal?: AbortSignal;
  resolveBase(ref: string, vertex: Vertex): Promise<BaseImage>;
  /** Told of the cache record behind every filesystem step, hit or built (for --cache-to). */
  onRecord?: RecordListener;
  /** `--secret` values by id, for RUN --mount=type=secret (never stored, never keyed). */
  secrets?: ReadonlyMap<string, Buffer>;
  /** Entitlements granted with `--allow` (security.insecure). */
  allow?: readonly string[];
  /** `--ssh` agents. */
  ssh?: SshAgents;
  /** `--cgroup-parent`, `--memory`, `--cpu-*`: every RUN's cgroups (not keyed: they limit, they do not change results). */
  resources?: ResourceLimits;
  /** SOURCE_DATE_EPOCH, when set (git sources then take their commit's time). */
  sourceDateEpoch?: number;
  /** Say why each missed step missed (its facts are remembered either way). */
  explainMisses?: boolean;
  /** `--debug-on-error`: run this in the container of a RUN that fails, before failing. */
  debugOnError?: readonly string[];
  /** Defaults to the store's own (tests give a fake). */
  snapshotter?: Snapshotter;
  /** Defaults to STEP_KINDS (tests give fake executors). */
  kinds?: StepKinds;
}

const EPOCH = '1970-01-01T00:00:00Z';

function stageResultOf(plan: BuildPlan, stage: number, results: ReadonlyMap<string, VertexResult>): VertexResult {
  const planned = plan.stages.find((s) => s.index === stage)!;
  return results.get(planned.vertices[planned.vertices.length - 1])!;
}

function skipsCache(req: BuildRequest, vertex: Vertex): boolean {
  if (req.noCache) return true;
  const filter = req.noCacheStages;
  if (!filter?.size) return false;
  const stage = req.plan.stages.find((s) => s.index === vertex.stage);
  return filter.has(String(vertex.stage)) || (stage?.name !== undefined && filter.has(stage.name));
}

type BaseResolver = (ref: string, vertex: Vertex) => Promise<BaseImage>;

interface Engine {
  req: BuildRequest;
  services: StepServices;
  kinds: StepKinds;
  base: BaseResolver;
}

/** Base images, each resolved and unpacked once per build however many steps name it. */
function baseResolver(req: BuildRequest, snapshots: Snapshotter): BaseResolver {
  const bases = new Map<string, Promise<BaseImage>>();
  return (ref, vertex) => {
    let found = bases.get(ref);
    if (!found) {
      // The image's FROM step, as BuildKit shows it: CACHED when its layers are unpacked already.
      found = req.resolveBase(ref, vertex).then((image) => inStep(req.progress, imageLabel(req.plan, ref, image.id), async () => {
        await snapshots.view(image.chain);
        return image;
      }, image.chain.every((layer) => existsSync(snapshots.pathOf(layer.chainId)))));
      bases.set(ref, found);
    }
    return found;
  };
}

async function sourceResult(engine: Engine, vertex: Vertex, inputs: ReadonlyMap<string, VertexResult>): Promise<VertexResult> {
  const op = vertex.op;
  if (op.kind !== 'source') throw new Error('not a source');
  if (op.base.kind === 'scratch') return { key: hashKey(['scratch']), chain: [], history: [], config: vertex.config ?? {}, created: EPOCH, base: 'scratch' };
  if (op.base.kind === 'stage') {
    const parent = inputs.get(vertex.inputs[0])!;
    return { ...parent, config: vertex.config ?? parent.config };
  }
  const image = await engine.base(op.base.ref, vertex);
  return {
    key: hashKey(['image', image.id]), chain: image.chain, history: [...image.history], config: vertex.config ?? image.config,
    created: image.created ?? EPOCH, base: `${op.base.ref}@${image.id}`,
  };
}

/** The root file system of a stage (one of the step's inputs) or an image, for COPY --from and RUN --mount=from. */
function rootResolver(req: BuildRequest, snapshots: Snapshotter, base: BaseResolver): StepServices['rootOf'] {
  return async (from, vertex, inputs): Promise<MountRoot> => {
    if (from.kind === 'stage') {
      const result = stageResultOf(req.plan, from.stage, inputs);
      return { chain: result.chain, key: result.key, lowerDirs: await snapshots.view(result.chain) };
    }
    // COPY reads a directory context itself (steps/copy.ts); a mount of one is refused at the mount.
    if (from.kind === 'dir') throw new Error(`the build context ${from.name} is a directory, not a root file system`);
    const image = await base(from.ref, vertex);
    return { chain: image.chain, key: hashKey(['image', image.id]), lowerDirs: await snapshots.view(image.chain) };
  };
}

function servicesOf(req: BuildRequest, snapshots: Snapshotter, base: BaseResolver): StepServices {
  return {
    layout: req.layout, content: req.content, snapshots, plan: req.plan,
    cache: openBuildCache(req.layout.cache, (digest) => hasBlob(req.content, digest)),
    contextDir: req.contextDir, contextFilter: req.contextFilter, statCache: req.statCache,
    secrets: req.secrets ?? new Map(), allow: req.allow ?? [], signal: req.signal, debugOnError: req.debugOnError, sourceDateEpoch: req.sourceDateEpoch, ssh: req.ssh, resources: req.resources,
    rootOf: rootResolver(req, snapshots, base),
    explain: {
      dir: req.layout.explain, show: req.explainMisses === true,
      slotOf: (vertex) => slotOf({
        dockerfile: req.plan.file, contextDir: req.contextDir, stage: req.plan.stages.find((s) => s.index === vertex.stage)?.name ?? String(vertex.stage), step: vertex.stepIndex,
      }),
    },
  };
}

function vertexResult(engine: Engine, vertex: Vertex, inputs: ReadonlyMap<string, VertexResult>, signal: AbortSignal): Promise<VertexResult> {
  const { req } = engine;
  const op = vertex.op;
  switch (op.kind) {
    case 'source': return sourceResult(engine, vertex, inputs);
    case 'metadata': {
      const parent = inputs.get(vertex.inputs[0])!;
      const history = vertex.history ? [...parent.history, { created: parent.created, ...vertex.history }] : parent.history;
      return Promise.resolve({ ...parent, history, config: vertex.config ?? parent.config });
    }
    default: return runStep({
      services: { ...engine.services, signal }, kind: engine.kinds[op.kind], vertex, inputs, skipsCache: skipsCache(req, vertex),
      progress: req.progress, label: stepLabel(req.plan, vertex), onRecord: req.onRecord,
    });
  }
}

/** Runs the plan's vertices (in parallel where the graph allows) and returns the target's result. */
export async function executePlan(req: BuildRequest): Promise<VertexResult> {
  sweepStore(req.layout);
  const snapshots = req.snapshotter ?? openSnapshotter(req.layout, req.content);
  const base = baseResolver(req, snapshots);
  const engine: Engine = { req, base, kinds: req.kinds ?? STEP_KINDS, services: servicesOf(req, snapshots, base) };
  try {
    const results = await runGraph<Vertex, VertexResult>(req.plan.vertices, (vertex, inputs, signal) => vertexResult(engine, vertex, inputs, signal), {
      jobs: req.jobs, signal: req.signal,
    });
    const target = req.plan.stages.find((s) => s.index === req.plan.target)!;
    return results.get(target.vertices[target.vertices.length - 1])!;
  } finally {
    snapshots.release();
  }
}
