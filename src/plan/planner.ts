import { BuildError, closest, type SourceRange } from '../source/index.ts';
import { parseInstructions, type ArgInstruction, type FromInstruction, type Instruction } from '../instructions/index.ts';
import { parseDockerfile } from '../syntax/index.ts';
import type { ParsedDockerfile } from '../syntax/ast.ts';
import { normalizePlatform, platformArgs, PROXY_ARGS, TARGET_PLATFORM } from './args.ts';
import { dispatch, type StageContext } from './dispatch.ts';
import { cloneConfig, DEFAULT_PATH, envToMap, expandIn, materializeEnv, type StageState } from './state.ts';
import type { BuildPlan, FileSource, ImageConfig, ImageResolver, NetworkMode, PlannedStage, PlanWarning, Vertex } from './types.ts';

export interface PlanOptions {
  target?: string;
  buildArgs?: ReadonlyMap<string, string>;
  /** The build's `--network`: the mode of every RUN without one of its own (default: sandbox). */
  network?: NetworkMode;
  /** Looks up base images (for their ENV, ONBUILD, ...). Without one, images count as empty. */
  resolveImage?: ImageResolver;
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
  metaArgs: Map<string, string | undefined>;
  buildArgs: ReadonlyMap<string, string>;
  usedArgs: Set<string>;
  options: PlanOptions;
  planned: Map<number, PlannedStage>;
  inProgress: Set<number>;
  vertices: Vertex[];
  warnings: PlanWarning[];
  baseConfigs: Map<string, ImageConfig>;
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

function metaEnv(run: PlanRun): Map<string, string> {
  const env = new Map<string, string>();
  for (const [k, v] of run.metaArgs) if (v !== undefined) env.set(k, v);
  return env;
}

function declareGlobalArgs(run: PlanRun, globals: ArgInstruction[]): void {
  const escape = run.parsed.directives.escape;
  for (const ins of globals) {
    for (const arg of ins.args) {
      const given = run.buildArgs.get(arg.name);
      if (given !== undefined) run.usedArgs.add(arg.name);
      const fallback = arg.defaultValue === undefined
        ? run.metaArgs.get(arg.name)
        : expandIn({ source: run.parsed.source, escape }, metaEnv(run), arg.defaultValue, ins.range);
      run.metaArgs.set(arg.name, given ?? fallback);
    }
  }
}

/**
 * A stage by name. Docker allows a name twice: a reference means the latest definition before
 * `before` (FROM, --from) or, failing that or without `before`, the last one (--target).
 */
function findStage(run: PlanRun, name: string, before?: number): StageSource | undefined {
  const lower = name.toLowerCase();
  const matches = run.stages.filter((s) => s.name === lower);
  if (before !== undefined) {
    const earlier = matches.filter((s) => s.index < before);
    if (earlier.length) return earlier[earlier.length - 1];
  }
  return matches[matches.length - 1];
}

/** `--from=` of COPY or RUN --mount: a stage index, a stage name, or an image. */
function resolveFrom(run: PlanRun, current: number, stage: PlannedStage, value: string, range: SourceRange): FileSource {
  if (value === '') fail(run, 'the --from value can not be empty', range);
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

/** The stages `target` needs, found from the text alone: FROM names, --from and mount from=. */
function reachableStages(run: PlanRun, target: number): Set<number> {
  const escape = run.parsed.directives.escape;
  const needed = new Set<number>();
  const visit = (index: number): void => {
    if (needed.has(index)) return;
    needed.add(index);
    const src = run.stages[index];
    const ref = expandIn({ source: run.parsed.source, escape }, metaEnv(run), src.from.image, src.from.range);
    const base = findStage(run, ref, index);
    if (base && base.index < index) visit(base.index);
    for (const ins of src.body) {
      const refs: string[] = [];
      if (ins.kind === 'copy' && ins.from) refs.push(ins.from.value);
      if (ins.kind === 'run') for (const m of ins.mounts) refs.push(...[...m.value.matchAll(/(?:^|,)from=([^,]+)/g)].map((x) => x[1]));
      for (const value of refs) {
        const stage = /^\d+$/.test(value) ? run.stages[Number(value)] : findStage(run, value, index);
        if (stage && stage.index !== index) visit(stage.index);
      }
    }
  };
  visit(target);
  return needed;
}

/**
 * Base image configs are looked up (in parallel) before planning, so that planning itself stays
 * synchronous; only the stages the target needs are looked up, as BuildKit does. Every stage's
 * FROM must still name something.
 */
async function resolveBases(run: PlanRun, target: number): Promise<Map<string, ImageConfig>> {
  const escape = run.parsed.directives.escape;
  const resolver = run.options.resolveImage ?? noImage;
  const wanted = new Map<string, SourceRange>();
  const needed = reachableStages(run, target);
  for (const stage of run.stages) {
    const ref = expandIn({ source: run.parsed.source, escape }, metaEnv(run), stage.from.image, stage.from.range);
    if (ref === '') fail(run, `base name (${stage.from.image}) should not be blank`, stage.from.range);
    if (!needed.has(stage.index) || ref.toLowerCase() === 'scratch' || wanted.has(ref)) continue;
    const earlier = findStage(run, ref, stage.index);
    if (earlier && earlier.index < stage.index) continue;
    wanted.set(ref, stage.from.range);
  }
  const found = await Promise.all([...wanted].map(async ([ref, range]) => [ref, (await resolver(ref, range))?.config ?? {}] as const));
  return new Map(found);
}

function planStage(run: PlanRun, index: number, refRange?: SourceRange): PlannedStage {
  const done = run.planned.get(index);
  if (done) return done;
  if (run.inProgress.has(index)) fail(run, `circular dependency detected on stage: ${run.stages[index].name ?? index}`, refRange);
  run.inProgress.add(index);
  const src = run.stages[index];
  const escape = run.parsed.directives.escape;
  const from = src.from;
  const ref = expandIn({ source: run.parsed.source, escape }, metaEnv(run), from.image, from.range);
  if (ref === '') fail(run, `base name (${from.image}) should not be blank`, from.range);
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
  const earlier = findStage(run, ref, index);
  let config: ImageConfig = {};
  // A stage built FROM another starts from that stage's whole state: ENV, ARG values and all.
  let inherited: StageEnv | undefined;
  // What the source vertex records: the base's published config, never mutated afterwards.
  let baseConfig: ImageConfig | undefined;
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
    index, state, stage, vertices: run.vertices, stepCount: src.body.length + 1,
    network: run.options.network ?? 'sandbox',
    proxyArgs: new Map([...run.buildArgs].filter(([k]) => PROXY_ARGS.has(k))),
    buildArgs: run.buildArgs, metaArgs: run.metaArgs, usedArgs: run.usedArgs,
    resolveFrom: (value, range) => resolveFrom(run, index, stage, value, range),
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
  lastVertexOf(run, stage).config = stage.config;
  run.stageEnvs.set(index, { buildEnv: state.buildEnv, args: state.args });
  run.inProgress.delete(index);
  run.planned.set(index, stage);
  return stage;
}

function lastVertexOf(run: PlanRun, stage: PlannedStage): Vertex {
  const id = stage.vertices[stage.vertices.length - 1];
  for (let i = run.vertices.length - 1; i >= 0; i--) if (run.vertices[i].id === id) return run.vertices[i];
  throw new Error(`vertex ${id} missing from the plan`);
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

export function resolveTarget(run: Pick<PlanRun, 'stages' | 'parsed'>, target: string | undefined): number {
  if (target === undefined || target === '') return run.stages.length - 1;
  const stage = findStage(run as PlanRun, target);
  if (stage) return stage.index;
  const names = run.stages.flatMap((s) => (s.name ? [s.name] : []));
  const near = closest(target, names);
  throw new BuildError(`target stage "${target}" could not be found`, undefined, {
    suggestion: near ? `did you mean "${near}"?` : names.length ? `stages: ${names.join(', ')}` : undefined,
  });
}

/** Parsed Dockerfile to build plan: only the stages the target needs are planned. */
export async function planBuild(parsed: ParsedDockerfile, options: PlanOptions = {}): Promise<BuildPlan> {
  const { globals, stages } = splitStages(parsed, parseInstructions(parsed));
  const run: PlanRun = {
    parsed, stages, metaArgs: platformArgs() as Map<string, string | undefined>, buildArgs: options.buildArgs ?? new Map(),
    usedArgs: new Set(), options, planned: new Map(), inProgress: new Set(), vertices: [], warnings: [], baseConfigs: new Map(), stageEnvs: new Map(),
  };
  declareGlobalArgs(run, globals);
  const target = resolveTarget(run, options.target);
  run.baseConfigs = await resolveBases(run, target);
  planStage(run, target);
  const unusedBuildArgs = [...run.buildArgs.keys()].filter((k) => !run.usedArgs.has(k) && !PROXY_ARGS.has(k));
  if (unusedBuildArgs.length) run.warnings.push({ message: `one or more build-args [${unusedBuildArgs.join(' ')}] were not consumed` });
  for (const w of parsed.warnings) run.warnings.push(w);
  return {
    file: parsed.file,
    stages: [...run.planned.values()].sort((a, b) => a.index - b.index),
    vertices: run.vertices, target, platform: TARGET_PLATFORM, warnings: run.warnings, unusedBuildArgs,
  };
}
