import type { SourceRange } from '../source/range.ts';
import type { Heredoc } from '../syntax/ast.ts';

/**
 * The plan is plain data: the only thing the back end (solve, exec, image) sees of a Dockerfile.
 * `ContainerConfig` is the OCI image config's `config` object (the runtime defaults) and
 * `HistoryEntry` one of its `history` entries: defined here once, the image code uses them too.
 */
/** Healthcheck durations are nanoseconds, as Docker writes them. */
export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Healthcheck?: HealthConfig;
  Shell?: string[];
  OnBuild?: string[] | null;
  ArgsEscaped?: boolean;
}

/** What the plan needs to know about a base image: its config (for ENV, ONBUILD, ...). */
export interface BaseImageInfo {
  config: ContainerConfig;
}

export type ImageResolver = (ref: string, range: SourceRange) => Promise<BaseImageInfo | undefined>;

/** Where a stage's root filesystem starts. */
export type BaseRef = { kind: 'scratch' } | { kind: 'image'; ref: string } | { kind: 'stage'; stage: number };

/** Where COPY/ADD/RUN --mount read files from. */
export type FileSource = { kind: 'context' } | { kind: 'stage'; stage: number } | { kind: 'image'; ref: string }
  /** A named build context that is a directory (`--build-context NAME=PATH`). */
  | { kind: 'dir'; name: string; path: string };

/** `--build-context NAME=...`: an image in place of a stage or image of that name, or a directory. */
export type NamedContext = { kind: 'image'; ref: string } | { kind: 'dir'; path: string };

export interface RunMount {
  type: 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
  target: string;
  source?: string;
  from?: FileSource;
  readonly: boolean;
  id?: string;
  sharing?: 'shared' | 'private' | 'locked';
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  required?: boolean;
  env?: string;
  range: SourceRange;
}

export interface SourceOp { kind: 'source'; base: BaseRef }

/**
 * Networking for a RUN: `sandbox` is a network namespace of its own with outbound access (what
 * BuildKit calls the default, sandbox, network), `none` loopback only, `host` the host's.
 */
export type NetworkMode = 'sandbox' | 'none' | 'host';

/** A resource limit of `--ulimit`: soft and hard, `-1` unlimited. */
export interface Ulimit { name: string; soft: number; hard: number }

/**
 * What `berth build --add-host`, `--shm-size` and `--ulimit` give every RUN of the build. Part of
 * its key, as they are of BuildKit's ExecOp; absent when none was given (keys stay as they were).
 */
export interface RunSandboxOptions {
  extraHosts?: Array<{ host: string; ip: string }>;
  /** /dev/shm's size in bytes (Docker's default is 64 MiB). */
  shmSize?: number;
  ulimits?: Ulimit[];
}

export interface RunOp {
  kind: 'run';
  /** Final argv (shell already prepended for shell form). */
  argv: string[];
  /** Process environment: image env plus the build args in scope. */
  env: string[];
  cwd: string;
  user: string;
  /** Resolved: `RUN --network=default` and no flag both mean the build's `--network`. */
  network: NetworkMode;
  security: 'sandbox' | 'insecure';
  mounts: RunMount[];
  heredocs: Heredoc[];
  /** Build args that entered the environment (they are part of the cache key, like BuildKit). */
  buildArgs: string[];
  /** Variables added only from --build-arg proxy values: in the environment, not in the cache key. */
  unkeyedEnv: string[];
  sandbox?: RunSandboxOptions;
}

export interface CopyOp {
  kind: 'copy';
  add: boolean;
  from: FileSource;
  /** Source words after expansion (context-relative paths, globs, URLs or heredoc names). */
  sources: string[];
  /** Destination after expansion and WORKDIR resolution; a trailing `/` is kept. */
  dest: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  parents: boolean;
  exclude: string[];
  checksum?: string;
  unpack?: boolean;
  keepGitDir: boolean;
  /** Heredoc sources by name, contents already expanded where the delimiter allowed it. */
  heredocs: Array<{ name: string; content: string }>;
  /** The stage's USER at this point: owner of created parents when --chown is absent. */
  user: string;
  cwd: string;
}

/** WORKDIR's `mkdir -p`, owned by the current USER. */
export interface WorkdirOp { kind: 'workdir'; path: string; user: string }

/** A config-only change (ENV, LABEL, CMD, ...): no filesystem work. */
export interface MetadataOp { kind: 'metadata'; instruction: string }

export type Op = SourceOp | RunOp | CopyOp | WorkdirOp | MetadataOp;

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  /** True for steps that changed only the config (ENV, CMD, ...). */
  empty_layer?: boolean;
}

/** One node of the build DAG. `inputs[0]` is the filesystem parent (absent for a source). */
export interface Vertex {
  id: string;
  stage: number;
  op: Op;
  inputs: string[];
  range: SourceRange;
  /** The instruction as written, for progress output. */
  text: string;
  /** Position of the instruction in its stage (1-based; BuildKit's `[stage n/N]`). */
  stepIndex: number;
  /** The stage's instruction count, FROM included. */
  stepCount: number;
  /**
   * The image config after this vertex: set on a stage's source and on its last vertex (the
   * stage's result); in between, the config is only a planning-time state.
   */
  config?: ContainerConfig;
  history?: HistoryEntry;
}

export interface PlannedStage {
  index: number;
  name?: string;
  base: BaseRef;
  /** Vertex ids of this stage, in order; the last one is the stage's result. */
  vertices: string[];
  /** Stages this stage reads (FROM stage, COPY --from, RUN --mount from=). */
  dependsOn: number[];
  /** Images this stage reads besides its base. */
  imageRefs: string[];
  config: ContainerConfig;
  history: HistoryEntry[];
  /** MAINTAINER's value: the image's `author`. */
  author?: string;
  range: SourceRange;
}

export interface PlanWarning { message: string; range?: SourceRange }

export interface BuildPlan {
  file: string;
  /** Only the stages the target needs, in Dockerfile order. */
  stages: PlannedStage[];
  /** How many stages the Dockerfile has, needed or not (BuildKit names steps by it). */
  stageCount?: number;
  vertices: Vertex[];
  target: number;
  platform: string;
  warnings: PlanWarning[];
  /** Build args given on the command line that no instruction consumed. */
  unusedBuildArgs: string[];
}
