import { BuildError, closest, type SourceRange } from '../source/index.ts';
import { parseInstructions, type ArgInstruction, type FromInstruction, type Instruction } from '../instructions/index.ts';
import { parseDockerfile } from '../syntax/index.ts';
import type { ParsedDockerfile } from '../syntax/ast.ts';
import { normalizePlatform, platformArgs, PROXY_ARGS, TARGET_PLATFORM } from './args.ts';
import { dispatch, type StageContext } from './dispatch.ts';
import { cloneConfig, DEFAULT_PATH, envToMap, expandIn, materializeEnv, type StageState } from './state.ts';
import type { BuildPlan, FileSource, ContainerConfig, ImageResolver, NamedContext, NetworkMode, PlannedStage, RunSandboxOptions, PlanWarning, Vertex } from './types.ts';

export interface PlanOptions {
  target?: string;
  buildArgs?: ReadonlyMap<string, string>;
  /** The build's `--network`: the mode of every RUN without one of its own (default: sandbox). */
  network?: NetworkMode;
  /** `--add-host`, `--shm-size`, `--ulimit`: for every RUN. */
  runSandbox?: RunSandboxOptions;
  /** Looks up base images (for their ENV, ONBUILD, ...). Without one, images count as empty. */
  resolveImage?: ImageResolver;
  /** `--build-context NAME=...`: each overrides a stage or image of that name, as buildx's do. */
  namedContexts?: ReadonlyMap<string, NamedContext>;
}

interface StageSource {
  index: number;
  name?: string;
  from: FromInstruction;
  body: Instruction[];
}

/** Everything shared while the stages of one Dockerfile are planned (recursively, on demand). */
interface PlanRun {
  parsed: ParsedDockerfile;
  stages: StageSource[];
  /** Stage indices by (lower-case) name, ascending: Docker allows a name twice. */
  byName: Map<string, number[]>;
  metaArgs: Map<string, string | undefined>;
  /** The global ARGs with a value: what FROM expands with (kept in step with metaArgs). */
  metaEnv: Map<string, string>;
  buildArgs: ReadonlyMap<string, string>;
  usedArgs: Set<string>;
  options: PlanOptions;
  planned: Map<number, PlannedStage>;
  /** Stages whose planning failed, with the error: asked again, they fail again at once. */
  failed: Map<number, BuildError>;
  inProgress: Set<number>;
  vertices: Vertex[];
  warnings: PlanWarning[];
  baseConfigs: Map<string, ContainerConfig>;
  /** Each planned stage's final build environment, for stages built FROM it. */
  stageEnvs: Map<number, StageEnv>;
}

interface StageEnv {
  buildEnv: ReadonlyMap<string, string>;
  args: ReadonlyMap<string, string | undefined>;
}

function fail(run: PlanRun, message: string, range: SourceRange | undefined, suggestion?: string): never {
  throw new BuildError(message, range, { source: run.parsed.source, suggestion });
}

/** Splits instructions into global ARGs and stages. */
function splitStages(parsed: ParsedDockerfile, instructions: Instruction[]): { globals: ArgInstruction[]; stages: StageSource[] } {
  const globals: ArgInstruction[] = [];
  const stages: StageSource[] = [];
  for (const ins of instructions) {
    if (ins.kind === 'from') {
      stages.push({ index: stages.length, name: ins.stageName, from: ins, body: [] });
    } else if (stages.length === 0) {
      if (ins.kind !== 'arg') {
        throw new BuildError('no build stage in current context: the first instruction must be FROM (or ARG before it)', ins.range, { source: parsed.source });
      }
      globals.push(ins);
    } else {
      stages[stages.length - 1].body.push(ins);
    }
  }
  if (stages.length === 0) {
    const range = instructions[0]?.range ?? { file: parsed.file, start: { line: 1, column: 1 }, end: { line: 1, column: 1 } };
    throw new BuildError('the Dockerfile has no FROM instruction', range, { source: parsed.source });
  }
  return { globals, stages };
}

function metaEnv(run: PlanRun): ReadonlyMap<string, string> {
  return run.metaEnv;
}

function setMetaArg(run: PlanRun, name: string, value: string | undefined): void {
  run.metaArgs.set(name, value);
  if (value === undefined) run.metaEnv.delete(name);
  else run.metaEnv.set(name, value);
}

function declareGlobalArgs(run: PlanRun, globals: ArgInstruction[]): void {
  const escape = run.parsed.directives.escape;
  for (const ins of globals) {
    // Names before FROM stay as written: Docker 26 expands only a stage's ARG names.
    for (const arg of ins.args) {
      const given = run.buildArgs.get(arg.name);
      if (given !== undefined) run.usedArgs.add(arg.name);
      const fallback = arg.defaultValue === undefined
        ? run.metaArgs.get(arg.name)
        : expandIn({ source: run.parsed.source, escape }, metaEnv(run), arg.defaultValue, ins.range);
      setMetaArg(run, arg.name, given ?? fallback);
    }
  }
}

/**
 * A stage by name. Docker allows a name twice: a reference means the latest definition before
 * `before` (FROM, --from) or, failing that or without `before`, the last one (--target).
 */
function findStage(run: Pick<PlanRun, 'stages' | 'byName'>, name: string, before?: number): StageSource | undefined {
  const matches = run.byName.get(name.toLowerCase());
  if (matches === undefined) return undefined;
  if (before !== undefined && matches[0] < before) {
    // The last definition before `before`: binary search, as a Dockerfile may have thousands.
    let lo = 0;
    let hi = matches.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (matches[mid] < before) lo = mid;
      else hi = mid - 1;
    }
    return run.stages[matches[lo]];
  }
  return run.stages[matches[matches.length - 1]];
}

function stagesByName(stages: StageSource[]): Map<string, number[]> {
  const byName = new Map<string, number[]>();
  for (const stage of stages) {
    if (stage.name === undefined) continue;
    const list = byName.get(stage.name);
    if (list) list.push(stage.index);
    else byName.set(stage.name, [stage.index]);
  }
  return byName;
}

/** `--from=` of COPY or RUN --mount: a stage index, a stage name, or an image. */
function resolveFrom(run: PlanRun, current: number, stage: PlannedStage, value: string, range: SourceRange): FileSource {
  if (value === '') fail(run, 'the --from value can not be empty', range);
  const named = run.options.namedContexts?.get(value);
  if (named?.kind === 'dir') return { kind: 'dir', name: value, path: named.path };
  if (named) {
    if (!stage.imageRefs.includes(named.ref)) stage.imageRefs.push(named.ref);
    return { kind: 'image', ref: named.ref };
  }
  let target: StageSource | undefined;
  if (/^\d+$/.test(value)) {
    const index = Number(value);
    if (index >= run.stages.length) fail(run, `invalid stage index ${value}`, range);
    if (index >= current) fail(run, `invalid from flag value ${value}: refers to current or later stage`, range);
    target = run.stages[index];
  } else {
    target = findStage(run, value, current);
  }
  if (!target) {
    if (!stage.imageRefs.includes(value)) stage.imageRefs.push(value);
    return { kind: 'image', ref: value };
  }
  if (target.index === current) fail(run, `circular dependency detected on stage: ${value}`, range);
  planStage(run, target.index, range);
  if (!stage.dependsOn.includes(target.index)) stage.dependsOn.push(target.index);
  return { kind: 'stage', stage: target.index };
}

async function noImage(): Promise<undefined> {
  return undefined;
}

/** The stages `index` names in its text: FROM, COPY --from and RUN --mount from=. */
function textualDependencies(run: PlanRun, index: number): number[] {
  const escape = run.parsed.directives.escape;
  const src = run.stages[index];
  const deps: number[] = [];
  const ref = expandIn({ source: run.parsed.source, escape }, metaEnv(run), src.from.image, src.from.range);
  const base = run.options.namedContexts?.has(ref) ? undefined : findStage(run, ref, index);
  if (base && base.index < index) deps.push(base.index);
  for (const ins of src.body) {
    const refs: string[] = [];
    if (ins.kind === 'copy' && ins.from) refs.push(ins.from.value);
    if (ins.kind === 'run') for (const m of ins.mounts) refs.push(...[...m.value.matchAll(/(?:^|,)from=([^,]+)/g)].map((x) => x[1]));
    for (const value of refs) {
      if (run.options.namedContexts?.has(value)) continue;
      const stage = /^\d+$/.test(value) ? run.stages[Number(value)] : findStage(run, value, index);
      if (stage && stage.index !== index) deps.push(stage.index);
    }
  }
  return deps;
}

/**
 * The stages `target` needs, found from the text alone, each after the stages it needs (a
 * depth-first post-order, kept on an explicit stack: a chain of stages can be thousands long).
 * Planning them in this order means planStage never recurses more than a level deep.
 */
function reachableStages(run: PlanRun, target: number, done: (index: number) => boolean = () => false): number[] {
  const order: number[] = [];
  // Stages already `done` (planned, or failed) are leaves: what they need was planned with them.
  const seen = new Set<number>([target]);
  const stack: { index: number; deps: number[]; next: number }[] = [{ index: target, deps: textualDependencies(run, target), next: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.next < top.deps.length) {
      const dep = top.deps[top.next++];
      if (seen.has(dep)) continue;
      seen.add(dep);
      if (done(dep)) {
        order.push(dep);
        continue;
      }
      stack.push({ index: dep, deps: textualDependencies(run, dep), next: 0 });
    } else {
      stack.pop();
      order.push(top.index);
    }
  }
  return order;
}

/**
 * Base image configs are looked up (in parallel) before planning, so that planning itself stays
 * synchronous; only the stages the target needs are looked up, as BuildKit does. Every stage's
 * FROM must still name something.
 */
async function resolveBases(run: PlanRun, needed: ReadonlySet<number>): Promise<Map<string, ContainerConfig>> {
  const escape = run.parsed.directives.escape;
  const resolver = run.options.resolveImage ?? noImage;
  const wanted = new Map<string, SourceRange>();
  for (const stage of run.stages) {
    const written = expandIn({ source: run.parsed.source, escape }, metaEnv(run), stage.from.image, stage.from.range);
    if (written === '') fail(run, `base name (${stage.from.image}) should not be blank`, stage.from.range);
    const named = run.options.namedContexts?.get(written);
    const ref = named?.kind === 'image' ? named.ref : written;
    if (!needed.has(stage.index) || named?.kind === 'dir' || ref.toLowerCase() === 'scratch' || wanted.has(ref)) continue;
    const earlier = named ? undefined : findStage(run, ref, stage.index);
    if (earlier && earlier.index < stage.index) continue;
    wanted.set(ref, stage.from.range);
  }
  const found = await Promise.all([...wanted].map(async ([ref, range]) => [ref, (await resolver(ref, range))?.config ?? {}] as const));
  return new Map(found);
}

function planStage(run: PlanRun, index: number, refRange?: SourceRange): PlannedStage {
  const done = run.planned.get(index);
  if (done) return done;
  const failed = run.failed.get(index);
  if (failed) throw failed;
  if (run.inProgress.has(index)) fail(run, `circular dependency detected on stage: ${run.stages[index].name ?? index}`, refRange);
  run.inProgress.add(index);
  try {
    return planStageBody(run, index);
  } catch (error) {
    if (error instanceof BuildError) run.failed.set(index, error);
    throw error;
  } finally {
    run.inProgress.delete(index);
  }
}

function planStageBody(run: PlanRun, index: number): PlannedStage {
  const src = run.stages[index];
  const escape = run.parsed.directives.escape;
  const from = src.from;
  const written = expandIn({ source: run.parsed.source, escape }, metaEnv(run), from.image, from.range);
  if (written === '') fail(run, `base name (${from.image}) should not be blank`, from.range);
  const named = run.options.namedContexts?.get(written);
  if (named?.kind === 'dir') fail(run, `FROM ${written}: a directory build context cannot be a base image (COPY --from=${written} reads it)`, from.range);
  const ref = named?.kind === 'image' ? named.ref : written;
  if (from.platform) {
    const platform = expandIn({ source: run.parsed.source, escape }, metaEnv(run), from.platform.value, from.platform.range);
    if (!normalizePlatform(platform)) {
      fail(run, `berth builds ${TARGET_PLATFORM} images only; platform "${platform}" is not supported`, from.platform.range);
    }
  }
  const stage: PlannedStage = {
    index, name: src.name, base: { kind: 'scratch' }, vertices: [], dependsOn: [], imageRefs: [],
    config: {}, history: [], range: from.range,
  };
  const earlier = named ? undefined : findStage(run, ref, index);
  let config: ContainerConfig = {};
  // A stage built FROM another starts from that stage's whole state: ENV, ARG values and all.
  let inherited: StageEnv | undefined;
  // What the source vertex records: the base's published config, never mutated afterwards.
  let baseConfig: ContainerConfig | undefined;
  let baseInput: string | undefined;
  if (earlier && earlier.index < index) {
    const base = planStage(run, earlier.index, from.range);
    stage.base = { kind: 'stage', stage: earlier.index };
    stage.dependsOn.push(earlier.index);
    for (const entry of base.history) stage.history.push(entry);
    baseConfig = base.config;
    config = cloneConfig(base.config);
    baseInput = base.vertices[base.vertices.length - 1];
    inherited = run.stageEnvs.get(earlier.index);
  } else if (ref.toLowerCase() !== 'scratch') {
    stage.base = { kind: 'image', ref };
    baseConfig = run.baseConfigs.get(ref) ?? {};
    config = cloneConfig(baseConfig);
  } else {
    // BuildKit's empty image still carries the default PATH and a working directory.
    config = { Env: [`PATH=${DEFAULT_PATH}`], WorkingDir: '/' };
  }
  const env = envToMap(config.Env);
  const state: StageState = {
    config, env, buildEnv: new Map(inherited?.buildEnv ?? env), envVersion: 0, args: new Map(inherited?.args ?? []),
    history: stage.history, escape, source: run.parsed.source,
  };
  const sourceVertex: Vertex = {
    id: `s${index}/0`, stage: index, op: { kind: 'source', base: stage.base },
    inputs: baseInput ? [baseInput] : [], range: from.range, config: baseConfig ?? cloneConfig(config),
    text: from.original, stepIndex: 1, stepCount: src.body.length + 1,
  };
  run.vertices.push(sourceVertex);
  stage.vertices.push(sourceVertex.id);
  const ctx: StageContext = {
    index, state, stage, vertices: run.vertices, lastVertex: sourceVertex, stepCount: src.body.length + 1,
    network: run.options.network ?? 'sandbox',
    sandbox: run.options.runSandbox,
    proxyArgs: new Map([...run.buildArgs].filter(([k]) => PROXY_ARGS.has(k))),
    buildArgs: run.buildArgs, metaArgs: run.metaArgs, usedArgs: run.usedArgs,
    resolveFrom: (value, range) => resolveFrom(run, index, stage, value, range),
    stageOutput: (other) => run.planned.get(other)?.vertices.at(-1) ?? `s${other}/0`,
    parseTrigger: (text, range) => parseTrigger(run, text, range),
  };
  // ONBUILD triggers of the base run first, then the image forgets them (Docker's rule).
  const triggers = config.OnBuild ?? [];
  if (triggers.length > 0) {
    for (const text of triggers) dispatch(parseTrigger(run, text, from.range), ctx);
    state.config.OnBuild = null;
  }
  for (const ins of src.body) dispatch(ins, ctx);
  // The state is done with: its config becomes the stage's published, immutable result.
  stage.config = materializeEnv(state);
  ctx.lastVertex.config = stage.config;
  run.stageEnvs.set(index, { buildEnv: state.buildEnv, args: state.args });
  run.planned.set(index, stage);
  return stage;
}

/** An ONBUILD trigger from an image config, parsed as a one-line Dockerfile located at FROM. */
function parseTrigger(run: PlanRun, text: string, range: SourceRange): Instruction {
  let ins: Instruction | undefined;
  try {
    [ins] = parseInstructions(parseDockerfile(text, range.file));
  } catch (error) {
    if (error instanceof BuildError) fail(run, `ONBUILD trigger "${text}": ${error.message}`, range);
    throw error;
  }
  if (!ins) fail(run, 'empty ONBUILD trigger', range);
  if (ins.kind === 'from' || ins.kind === 'onbuild' || ins.kind === 'maintainer') {
    fail(run, `${ins.kind.toUpperCase()} isn't allowed as an ONBUILD trigger`, range);
  }
  return { ...ins, range };
}

export function resolveTarget(run: Pick<PlanRun, 'stages' | 'byName'>, target: string | undefined): number {
  if (target === undefined || target === '') return run.stages.length - 1;
  const stage = findStage(run, target);
  if (stage) return stage.index;
  const names = run.stages.flatMap((s) => (s.name ? [s.name] : []));
  const near = closest(target, names);
  throw new BuildError(`target stage "${target}" could not be found`, undefined, {
    suggestion: near ? `did you mean "${near}"?` : names.length ? `stages: ${names.join(', ')}` : undefined,
  });
}

function startRun(parsed: ParsedDockerfile, options: PlanOptions): PlanRun {
  const { globals, stages } = splitStages(parsed, parseInstructions(parsed));
  const metaArgs = platformArgs() as Map<string, string | undefined>;
  const run: PlanRun = {
    parsed, stages, byName: stagesByName(stages), metaArgs, metaEnv: new Map(platformArgs()),
    buildArgs: options.buildArgs ?? new Map(), usedArgs: new Set(), options, planned: new Map(), failed: new Map(),
    inProgress: new Set(), vertices: [], warnings: [], baseConfigs: new Map(), stageEnvs: new Map(),
  };
  declareGlobalArgs(run, globals);
  return run;
}

/** Parsed Dockerfile to build plan: only the stages the target needs are planned. */
export async function planBuild(parsed: ParsedDockerfile, options: PlanOptions = {}): Promise<BuildPlan> {
  const run = startRun(parsed, options);
  const target = resolveTarget(run, options.target);
  const order = reachableStages(run, target);
  run.baseConfigs = await resolveBases(run, new Set(order));
  for (const index of order) planStage(run, index);
  // SOURCE_DATE_EPOCH is read by the builder itself (image and history times), as in BuildKit.
  const unusedBuildArgs = [...run.buildArgs.keys()].filter((k) => !run.usedArgs.has(k) && !PROXY_ARGS.has(k) && k !== 'SOURCE_DATE_EPOCH');
  if (unusedBuildArgs.length) run.warnings.push({ message: `one or more build-args [${unusedBuildArgs.join(' ')}] were not consumed` });
  for (const w of parsed.warnings) run.warnings.push(w);
  return {
    file: parsed.file,
    stages: [...run.planned.values()].sort((a, b) => a.index - b.index), stageCount: run.stages.length,
    vertices: run.vertices, target, platform: TARGET_PLATFORM, warnings: run.warnings, unusedBuildArgs,
  };
}

/**
 * Plans every stage in one run, for `berth check`: each stage is planned once however many
 * stages need it (planning each as its own target was quadratic in the stages), and a stage that
 * fails reports its error; stages needing it fail with the same error. Errors outside any stage
 * (global ARGs, base names) end the run, as they would every target's.
 */
export async function planEveryStage(parsed: ParsedDockerfile): Promise<BuildError[]> {
  const run = startRun(parsed, {});
  run.baseConfigs = await resolveBases(run, new Set(run.stages.map((s) => s.index)));
  const errors: BuildError[] = [];
  for (const stage of run.stages) {
    try {
      const done = (index: number): boolean => run.planned.has(index) || run.failed.has(index);
      for (const index of reachableStages(run, stage.index, done)) planStage(run, index);
    } catch (error) {
      if (!(error instanceof BuildError)) throw error;
      errors.push(error);
    }
  }
  return errors;
}
