/**
 * The one step pipeline every filesystem step goes through: key -> lookup -> prepare -> execute
 * -> commit -> record. What differs between RUN, COPY and WORKDIR is their kind's business
 * (src/steps/types.ts); this module knows no op kind.
 */
import { stepKey } from '../cache/key.ts';
import { explainMiss, rememberFacts, type StepFacts } from '../cache/explain.ts';
import type { CacheRecord } from '../cache/records.ts';
import type { HistoryEntry, Vertex } from '../plan/index.ts';
import type { Progress } from '../progress/index.ts';
import { ReservedNameError } from '../layer/diff.ts';
import { BuildError } from '../source/index.ts';
import { explainUnmappedOwner } from '../sys/userns.ts';
import { isoSeconds } from '../text/units.ts';
import type { ActiveSnapshot } from '../snapshot/snapshotter.ts';
import { chainIdOf, type ChainLayer } from '../snapshot/snapshots.ts';
import { placeSystemError } from './errors.ts';
import type { RecordListener, StepContext, StepKind, StepServices, StepWork, VertexResult } from './types.ts';

export interface StepRequest {
  services: StepServices;
  kind: StepKind;
  vertex: Vertex;
  inputs: ReadonlyMap<string, VertexResult>;
  skipsCache: boolean;
  progress: Progress;
  /** Its label in the progress output. */
  label: string;
  onRecord?: RecordListener;
}

function historyOf(vertex: Vertex, parent: VertexResult, created: string, layer: unknown): HistoryEntry[] {
  return [...parent.history, { created, ...vertex.history!, ...(layer ? {} : { empty_layer: true }) }];
}

/** The step's result from a cache record: its layer (unpacked if need be) on the parent's chain. */
async function fromRecord(req: StepRequest, parent: VertexResult, record: CacheRecord): Promise<VertexResult> {
  const { services, vertex } = req;
  req.onRecord?.(vertex, record);
  services.cache.touch(record.key);
  const chain = [...parent.chain];
  if (record.layer) {
    const layer: ChainLayer = { ...record.layer, chainId: chainIdOf(parent.chain.at(-1)?.chainId, record.layer.diffId) };
    await services.snapshots.view([layer]);
    chain.push(layer);
  }
  return {
    key: record.key, chain, history: historyOf(vertex, parent, record.createdAt, record.layer),
    config: vertex.config ?? parent.config, created: record.layer ? record.createdAt : parent.created, base: parent.base,
  };
}

async function commitStep(req: StepRequest, work: StepWork, active: ActiveSnapshot): Promise<ChainLayer | undefined> {
  try {
    return await req.services.snapshots.commit(active, work.archive?.(active));
  } catch (error) {
    if (error instanceof ReservedNameError) throw new BuildError(`this step created ${error.message}`, req.vertex.range);
    throw error;
  }
}

/** Runs the step in a fresh active snapshot, commits it and records the result. */
async function buildStep(req: StepRequest, ctx: StepContext, work: StepWork, key: string, step: number): Promise<VertexResult> {
  const { services, vertex } = req;
  const { parent } = ctx;
  const active = await services.snapshots.prepare(parent.chain, 'step');
  try {
    await work.execute(active);
    const layer = await commitStep(req, work, active);
    const createdAt = isoSeconds(new Date());
    const record: CacheRecord = {
      key, createdAt, chainId: layer?.chainId, parentChainId: active.parentChainId ?? '',
      layer: layer && { diffId: layer.diffId, blobDigest: layer.blobDigest, blobSize: layer.blobSize, mediaType: layer.mediaType },
    };
    if (!work.stillValid || (await work.stillValid())) {
      const theirs = await services.cache.store(record, req.skipsCache);
      if (theirs) return await fromRecord(req, parent, theirs);
      work.kept?.(layer, active);
    } else {
      req.progress.log(step, 'stderr', 'the build context changed while it was copied: this step is not cached\n');
    }
    req.onRecord?.(vertex, record);
    return {
      key, chain: layer ? [...parent.chain, layer] : parent.chain, history: historyOf(vertex, parent, createdAt, layer),
      config: vertex.config ?? parent.config, created: layer ? createdAt : parent.created, base: parent.base,
    };
  } finally {
    services.snapshots.remove(active);
  }
}

/** What went into a missed step's key; its differences from the step's last record are logged. */
async function explainMissed(req: StepRequest, ctx: StepContext, work: StepWork, step: number): Promise<StepFacts | undefined> {
  const explain = req.services.explain;
  if (!explain) return undefined;
  const { env, ...options } = work.keyed as { env?: string[] };
  const manifest = await work.files?.();
  const facts: StepFacts = {
    text: ctx.vertex.text.trim().replace(/\s+/g, ' '), base: ctx.parent.base, parentKey: ctx.parent.key, env,
    options: JSON.stringify([options, work.digests.length]),
    ...(manifest ? { files: manifest.files, filesTruncated: manifest.truncated } : {}),
  };
  if (explain.show) {
    for (const reason of explainMiss(explain.dir, explain.slotOf(ctx.vertex), facts)) req.progress.log(step, 'stderr', `cache miss: ${reason}\n`);
  }
  return facts;
}

/** One filesystem step, from its cache record when one can stand for it, else built. */
export async function runStep(req: StepRequest): Promise<VertexResult> {
  const { vertex, progress } = req;
  const parent = req.inputs.get(vertex.inputs[0])!;
  const step = progress.start(req.label);
  try {
    const ctx: StepContext = {
      services: req.services, vertex, parent, inputs: req.inputs, skipsCache: req.skipsCache, startedAt: Date.now(),
      log: (stream, chunk) => progress.log(step, stream, chunk),
    };
    const work = await req.kind(ctx);
    const key = stepKey(parent.key, work.keyed, work.digests);
    const cached = req.skipsCache ? undefined : await req.services.cache.lookup(key, parent.chain.at(-1)?.chainId ?? '');
    if (cached) {
      const result = await fromRecord(req, parent, cached);
      progress.cached(step);
      return result;
    }
    const facts = req.skipsCache ? undefined : await explainMissed(req, ctx, work, step);
    const result = await buildStep(req, ctx, work, key, step);
    const explain = req.services.explain;
    if (facts && explain) await rememberFacts(explain.dir, explain.slotOf(vertex), key, facts);
    progress.done(step);
    return result;
  } catch (thrown) {
    const error = placeSystemError(thrown, vertex.range);
    const signal = req.services.signal;
    // Stopped because another step failed (or the build was interrupted): not this step's error.
    if (signal?.aborted && error === signal.reason) progress.canceled(step);
    else progress.error(step, explainUnmappedOwner(error) ?? (error instanceof Error ? error.message : String(error)));
    throw error;
  }
}
