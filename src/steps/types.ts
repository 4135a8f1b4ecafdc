/**
 * The contract between the step pipeline (src/steps/pipeline.ts) and the op kinds (run.ts,
 * copy.ts, workdir.ts): a kind says what goes into its step's cache key and how the step runs in
 * an active snapshot; the pipeline does everything else (key, lookup, prepare, execute, commit,
 * record), the same way for every kind. BuildKit's ops own their CacheMap and Exec the same way.
 */
import type { ContentStore } from '../content/index.ts';
import type { StatCache } from '../context/stat-cache.ts';
import type { ContextFilter } from '../context/walk.ts';
import type { BuildCache } from '../cache/cache.ts';
import type { CacheRecord } from '../cache/records.ts';
import type { ArchiveOptions } from '../layer/diff.ts';
import type { MountRoot } from '../mounts/run-mounts.ts';
import type { SshAgents } from '../mounts/ssh.ts';
import type { ResourceLimits } from '../exec/cgroups.ts';
import type { BuildPlan, FileSource, HistoryEntry, ContainerConfig, Vertex } from '../plan/index.ts';
import type { ActiveSnapshot, Snapshotter } from '../snapshot/snapshotter.ts';
import type { ChainLayer } from '../snapshot/snapshots.ts';
import type { StoreLayout } from '../store/layout.ts';

/** What a vertex leaves behind: the file system (a layer chain) and the image metadata so far. */
export interface VertexResult {
  key: string;
  chain: ChainLayer[];
  history: HistoryEntry[];
  config: ContainerConfig;
  /**
   * When the newest layer was made (its cache record's time). History and the image's `created`
   * use it, so rebuilding from cache, here or on another machine, gives the same image digest.
   */
  created: string;
  /** The stage's base: an image id, `scratch`, or the stage it is built on (for cache explanations). */
  base?: string;
}

/** The build-wide services a step may use. */
export interface StepServices {
  layout: StoreLayout;
  content: ContentStore;
  snapshots: Snapshotter;
  cache: BuildCache;
  plan: BuildPlan;
  contextDir?: string;
  contextFilter?: ContextFilter;
  statCache?: StatCache;
  /** `--secret` values by id (never stored, never keyed). */
  secrets: ReadonlyMap<string, Buffer>;
  /** Entitlements granted with `--allow`. */
  allow: readonly string[];
  signal?: AbortSignal;
  /** `--ssh` agents for RUN --mount=type=ssh. */
  ssh?: SshAgents;
  /** `--cgroup-parent` and the memory and cpu limits of every RUN (never keyed). */
  resources?: ResourceLimits;
  /** SOURCE_DATE_EPOCH of the build, when set. */
  sourceDateEpoch?: number;
  /** Where built steps' facts are kept to explain later misses; `show` prints the reasons. */
  explain?: { dir: string; show: boolean; slotOf(vertex: Vertex): string };
  /** `--debug-on-error`: the command run in a failing RUN's container (a shell by default). */
  debugOnError?: readonly string[];
  /** The root file system of a stage (already built: one of the step's inputs) or an image. */
  rootOf(from: Exclude<FileSource, { kind: 'context' }>, vertex: Vertex, inputs: ReadonlyMap<string, VertexResult>): Promise<MountRoot>;
}

/** One step as its kind sees it. */
export interface StepContext {
  services: StepServices;
  vertex: Vertex;
  parent: VertexResult;
  inputs: ReadonlyMap<string, VertexResult>;
  /** --no-cache or --no-cache-filter: the step neither reads nor trusts earlier results. */
  skipsCache: boolean;
  /** When the step began (context files changed less than the racy window before it are not trusted). */
  startedAt: number;
  log(stream: 'stdout' | 'stderr', chunk: Buffer | string): void;
}

/** A kind's answer for one step. */
export interface StepWork {
  /** The op's parts that decide its result (no source ranges, no unkeyed proxy values). */
  keyed: unknown;
  /** Digests of everything else the step reads: COPY sources, RUN mount sources. */
  digests: readonly string[];
  /** Runs the step; its changes land in `active.upperDir`. */
  execute(active: ActiveSnapshot): Promise<void>;
  /** How the layer is archived (a rebuilt COPY splices members of its previous layer). */
  archive?(active: ActiveSnapshot): ArchiveOptions | undefined;
  /** False when an input changed while the step ran: the layer is used but never recorded. */
  stillValid?(): Promise<boolean>;
  /** COPY from the context: its files, for explaining the next miss (src/copy/manifest.ts). */
  files?(): Promise<{ files: Record<string, string>; truncated: boolean }>;
  /** The step's own record was stored and its layer is `layer` (not another build's). */
  kept?(layer: ChainLayer | undefined, active: ActiveSnapshot): void;
}

export type StepKind = (ctx: StepContext) => Promise<StepWork>;

/** Every filesystem op kind the planner makes, and its implementation. */
export interface StepKinds {
  run: StepKind;
  copy: StepKind;
  workdir: StepKind;
}

/** Told of the cache record behind every filesystem step, hit or built (for --cache-to). */
export type RecordListener = (vertex: Vertex, record: CacheRecord) => void;
