import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { BuildPlan, HistoryEntry, ImageConfig, Vertex } from '../plan/index.ts';
import { hasBlob, type ContentStore } from '../content/index.ts';
import type { ContextFilter } from '../context/walk.ts';
import type { StatCache } from '../context/stat-cache.ts';
import type { StoreLayout } from '../store/layout.ts';
import { runGraph } from '../solve/scheduler.ts';
import { hashKey, stepKey } from './cache-key.ts';
import { readCacheRecord, touchCacheRecord, writeCacheRecord, writeCacheRecordIfAbsent, type CacheRecord } from './cache-records.ts';
import { contextCopyInput } from './copy-input.ts';
import { dirIdentity, layerSplice, lineageKey, reusableCopy, sameDir, saveLineage, startCopyReuse } from './copy-reuse.ts';
import { openLeases, type SnapshotLeases } from './snapshot-leases.ts';
import { chainIdOf, cleanStaleTemp, commitUpper, emptyLowerDir, ensureSnapshots, lowerDirsOf, makeTempDir, snapshotDirOf, type ChainLayer } from './layers.ts';
import { imageLabel, inStep, stepLabel, type Progress } from '../progress/index.ts';
import { pruneNoopDirs } from './prune-upper.ts';
import { ReservedNameError } from '../layer/diff.ts';
import { BuildError } from '../source/index.ts';
import { mergedTree, type SourceTree } from './source-tree.ts';
import { executeCopyStep, executeRun, executeWorkdir, type StepEnv } from './steps.ts';
import { runMountDigests, type RunMountEnv } from './run-mounts.ts';
import { explainUnmappedOwner } from '../sys/userns.ts';

/** A base image as the engine needs it: layers (unpackable), config and history. */
export interface BaseImage {
  /** Stable identity for cache keys (the manifest digest). */
  id: string;
  chain: ChainLayer[];
  config: ImageConfig;
  history: HistoryEntry[];
  created?: string;
}

export interface BuildRequest {
  layout: StoreLayout;
  content: ContentStore;
  plan: BuildPlan;
  /** Dockerfile text, for code frames. */
  source: string;
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
  onRecord?(vertex: Vertex, record: CacheRecord): void;
  /** `--secret` values by id, for RUN --mount=type=secret (never stored, never keyed). */
  secrets?: ReadonlyMap<string, Buffer>;
  /** Entitlements granted with `--allow` (security.insecure). */
  allow?: readonly string[];
}

/** What a vertex leaves behind: the file system (a layer chain) and the image metadata so far. */
export interface VertexResult {
  key: string;
  chain: ChainLayer[];
  history: HistoryEntry[];
  config: ImageConfig;
  /**
   * When the newest layer was made (its cache record's time). History and the image's `created`
   * use it, so rebuilding from cache, here or on another machine, gives the same image digest.
   */
  created: string;
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

interface Engine {
  req: BuildRequest;
  bases: Map<string, Promise<BaseImage>>;
  /** Every snapshot this build reads is leased until it ends (src/engine/snapshot-leases.ts). */
  leases: SnapshotLeases;
  context?: SourceTree;
}

function base(engine: Engine, ref: string, vertex: Vertex): Promise<BaseImage> {
  let found = engine.bases.get(ref);
  if (!found) {
    const { req } = engine;
    // The image's FROM step, as BuildKit shows it: CACHED when its layers are unpacked already.
    found = req.resolveBase(ref, vertex).then((image) => inStep(req.progress, imageLabel(req.plan, ref, image.id), async () => {
      await ensureSnapshots(req.layout, req.content, image.chain, engine.leases);
      return image;
    }, image.chain.every((layer) => existsSync(snapshotDirOf(req.layout, layer.chainId)))));
    engine.bases.set(ref, found);
  }
  return found;
}

async function sourceResult(engine: Engine, vertex: Vertex, inputs: ReadonlyMap<string, VertexResult>): Promise<VertexResult> {
  const op = vertex.op;
  if (op.kind !== 'source') throw new Error('not a source');
  if (op.base.kind === 'scratch') return { key: hashKey(['scratch']), chain: [], history: [], config: vertex.config ?? {}, created: EPOCH };
  if (op.base.kind === 'stage') {
    const parent = inputs.get(vertex.inputs[0])!;
    return { ...parent, config: vertex.config ?? parent.config };
  }
  const image = await base(engine, op.base.ref, vertex);
  return { key: hashKey(['image', image.id]), chain: image.chain, history: [...image.history], config: vertex.config ?? image.config, created: image.created ?? EPOCH };
}

/** The tree a COPY reads and the digest of what it reads from there. */
async function copySource(engine: Engine, vertex: Vertex, inputs: ReadonlyMap<string, VertexResult>): Promise<{ tree: SourceTree; digest: string }> {
  const op = vertex.op;
  if (op.kind !== 'copy') throw new Error('not a copy');
  const { req } = engine;
  if (op.from.kind === 'context') {
    return contextCopyInput({
      op, contextDir: req.contextDir, contextFilter: req.contextFilter, statCache: req.statCache, content: req.content,
      tmpDir: req.layout.tmp, range: vertex.range, source: req.source, signal: req.signal,
    });
  }
  let chain: ChainLayer[];
  let key: string;
  let describe: string;
  if (op.from.kind === 'stage') {
    const result = stageResultOf(req.plan, op.from.stage, inputs);
    chain = result.chain;
    key = result.key;
    describe = `stage ${op.from.stage}`;
  } else {
    const image = await base(engine, op.from.ref, vertex);
    chain = image.chain;
    key = hashKey(['image', image.id]);
    describe = `image ${op.from.ref}`;
  }
  const layers = chain.length ? lowerDirsOf(req.layout, chain, engine.leases) : [emptyLowerDir(req.layout)];
  return { tree: mergedTree({ layers }, describe), digest: key };
}

/** What RUN --mount needs from the engine: `from=` roots (stages, images via base()), context, secrets. */
function runMountEnv(engine: Engine, vertex: Vertex, inputs: ReadonlyMap<string, VertexResult>): RunMountEnv {
  const { req } = engine;
  return {
    rootOf: async (from) => {
      if (from.kind === 'stage') {
        const result = stageResultOf(req.plan, from.stage, inputs);
        return { chain: result.chain, key: result.key, lowerDirs: lowerDirsOf(req.layout, result.chain, engine.leases) };
      }
      if (from.kind === 'context') throw new Error('the context is not a root file system');
      const image = await base(engine, from.ref, vertex);
      return { chain: image.chain, key: hashKey(['image', image.id]), lowerDirs: lowerDirsOf(req.layout, image.chain, engine.leases) };
    },
    contextDir: req.contextDir, contextFilter: req.contextFilter, statCache: req.statCache,
    secrets: req.secrets ?? new Map(), allow: req.allow ?? [],
  };
}

/** A record can stand for a step run on `parentChainId` when it was made there and its blob is stored. */
async function usableRecord(engine: Engine, record: CacheRecord, parentChainId: string): Promise<boolean> {
  return record.parentChainId === parentChainId && (!record.layer || (await hasBlob(engine.req.content, record.layer.blobDigest)));
}

/** The step's result from a cache record: its layer (unpacked if need be) on the parent's chain. */
async function fromRecord(engine: Engine, vertex: Vertex, parent: VertexResult, record: CacheRecord): Promise<VertexResult> {
  const { req } = engine;
  req.onRecord?.(vertex, record);
  touchCacheRecord(req.layout.cache, record.key);
  const chain = [...parent.chain];
  if (record.layer) {
    const layer: ChainLayer = { ...record.layer, chainId: chainIdOf(parent.chain.at(-1)?.chainId, record.layer.diffId) };
    await ensureSnapshots(req.layout, req.content, [layer], engine.leases);
    chain.push(layer);
  }
  const history = [...parent.history, { created: record.createdAt, ...vertex.history!, ...(record.layer ? {} : { empty_layer: true }) }];
  return { key: record.key, chain, history, config: vertex.config ?? parent.config, created: record.layer ? record.createdAt : parent.created };
}

/**
 * Stores a step's record. Another build that ran the same step at the same time and finished
 * first decides its result, as if this one had found its record a moment later (both images then
 * share it): that result is returned, for this build to use instead of its own. --no-cache always
 * replaces the record with its own result.
 */
async function storeRecord(engine: Engine, vertex: Vertex, parent: VertexResult, record: CacheRecord): Promise<VertexResult | undefined> {
  const { req } = engine;
  if (!skipsCache(req, vertex)) {
    if (await writeCacheRecordIfAbsent(req.layout.cache, record)) return undefined;
    const theirs = readCacheRecord(req.layout.cache, record.key);
    if (theirs && (await usableRecord(engine, theirs, record.parentChainId ?? ''))) return fromRecord(engine, vertex, parent, theirs);
  }
  await writeCacheRecord(req.layout.cache, record);
  return undefined;
}

async function filesystemStep(engine: Engine, vertex: Vertex, inputs: ReadonlyMap<string, VertexResult>): Promise<VertexResult> {
  const { req } = engine;
  const parent = inputs.get(vertex.inputs[0])!;
  const op = vertex.op;
  const step = req.progress.start(stepLabel(req.plan, vertex));
  try {
    // Context files changed less than the racy window before this are not trusted for reuse.
    const startedAt = Date.now();
    let copyInput: { tree: SourceTree; digest: string } | undefined;
    let mountEnv: RunMountEnv | undefined;
    const extra: string[] = [];
    if (op.kind === 'copy') {
      copyInput = await copySource(engine, vertex, inputs);
      extra.push(copyInput.digest);
    } else if (op.kind === 'run') {
      mountEnv = runMountEnv(engine, vertex, inputs);
      extra.push(...await runMountDigests(op, mountEnv, req.source, vertex.range));
    }
    const key = stepKey(parent.key, op, extra);
    const history = [...parent.history];
    const parentChainId = parent.chain.at(-1)?.chainId ?? '';
    const cached = skipsCache(req, vertex) ? undefined : readCacheRecord(req.layout.cache, key);
    if (cached && (await usableRecord(engine, cached, parentChainId))) {
      const result = await fromRecord(engine, vertex, parent, cached);
      req.progress.cached(step);
      return result;
    }
    const tempDir = makeTempDir(req.layout, 'step');
    try {
      const upperDir = path.join(tempDir, 'upper');
      mkdirSync(upperDir);
      const lineage = op.kind === 'copy' && reusableCopy(op) && req.contextDir ? lineageKey(parentChainId, op, req.contextDir) : undefined;
      const copyReuse = lineage ? startCopyReuse(req.layout, req.content, lineage, tempDir, { safeBeforeMs: startedAt, claim: !skipsCache(req, vertex) }) : undefined;
      const env: StepEnv = {
        layout: req.layout, vertex, source: req.source, tempDir, upperDir,
        lowerDirs: parent.chain.length ? lowerDirsOf(req.layout, parent.chain, engine.leases) : [emptyLowerDir(req.layout)],
        contextDir: req.contextDir, mounts: mountEnv, copyReuse,
        onOutput: (stream, chunk) => req.progress.log(step, stream, chunk), signal: req.signal,
      };
      if (op.kind === 'run') await executeRun(env, op);
      else if (op.kind === 'copy') await executeCopyStep(env, op, copyInput!.tree);
      else if (op.kind === 'workdir') executeWorkdir(env, op);
      if (parent.chain.length) pruneNoopDirs(upperDir, env.lowerDirs);
      // A rebuilt COPY's layer repeats the donor's members for the files it moved, and records
      // where its own members are for the next rebuild.
      const members = new Map<string, [number, number]>();
      // Which inode the upper dir is: only if it becomes the snapshot is the snapshot this copy's.
      const upperIdentity = copyReuse ? dirIdentity(upperDir) : undefined;
      const layer = await commitUpper(req.layout, req.content, upperDir, parent.chain.at(-1)?.chainId, engine.leases, copyReuse && {
        splice: layerSplice(copyReuse),
        onEntry: (name, offset, length) => {
          if (copyReuse.written.has(name)) members.set(name, [offset, length]);
        },
      }).catch((error: unknown) => {
        if (error instanceof ReservedNameError) throw new BuildError(`this step created ${error.message}`, vertex.range, { source: req.source });
        throw error;
      });
      const createdAt = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      const record: CacheRecord = {
        key, createdAt, chainId: layer?.chainId, parentChainId,
        layer: layer && { diffId: layer.diffId, blobDigest: layer.blobDigest, blobSize: layer.blobSize, mediaType: layer.mediaType },
      };
      // A context file edited while it was copied: the layer may not match the key, so it is
      // used for this build but never remembered.
      const stable = op.kind !== 'copy' || op.from.kind !== 'context' || (await copySource(engine, vertex, inputs)).digest === copyInput!.digest;
      if (stable) {
        const theirs = await storeRecord(engine, vertex, parent, record);
        if (theirs) {
          req.progress.done(step);
          return theirs;
        }
        const snapshotIdentity = layer && dirIdentity(snapshotDirOf(req.layout, layer.chainId));
        if (lineage && copyReuse && layer && snapshotIdentity && sameDir(snapshotIdentity, upperIdentity)) {
          saveLineage(req.layout, lineage, layer, copyReuse, members, snapshotIdentity);
        }
      } else {
        req.progress.log(step, 'stderr', 'the build context changed while it was copied: this step is not cached\n');
      }
      req.onRecord?.(vertex, record);
      history.push({ created: createdAt, ...vertex.history!, ...(layer ? {} : { empty_layer: true }) });
      req.progress.done(step);
      return { key, chain: layer ? [...parent.chain, layer] : parent.chain, history, config: vertex.config ?? parent.config, created: layer ? createdAt : parent.created };
    } finally {
      rmSync(tempDir, { recursive: true, force: true });
    }
  } catch (error) {
    req.progress.error(step, explainUnmappedOwner(error) ?? (error instanceof Error ? error.message : String(error)));
    throw error;
  }
}

/** Runs the plan's vertices (in parallel where the graph allows) and returns the target's result. */
export async function executePlan(req: BuildRequest): Promise<VertexResult> {
  cleanStaleTemp(req.layout);
  const engine: Engine = { req, bases: new Map(), leases: openLeases(req.layout) };
  try {
    return await runPlan(engine);
  } finally {
    engine.leases.release();
  }
}

async function runPlan(engine: Engine): Promise<VertexResult> {
  const { req } = engine;
  const results = await runGraph<Vertex, VertexResult>(req.plan.vertices, async (vertex, inputs) => {
    switch (vertex.op.kind) {
      case 'source': return sourceResult(engine, vertex, inputs);
      case 'metadata': {
        const parent = inputs.get(vertex.inputs[0])!;
        const history = vertex.history ? [...parent.history, { created: parent.created, ...vertex.history }] : parent.history;
        return { ...parent, history, config: vertex.config ?? parent.config };
      }
      default: return filesystemStep(engine, vertex, inputs);
    }
  }, { jobs: req.jobs, signal: req.signal });
  const target = req.plan.stages.find((s) => s.index === req.plan.target)!;
  return results.get(target.vertices[target.vertices.length - 1])!;
}
