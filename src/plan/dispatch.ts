import type { SourceRange } from '../source/index.ts';
import type { ArgInstruction, Instruction } from '../instructions/index.ts';
import { planCopy, planRun, planWorkdir } from './filesystem.ts';
import {
  applyEnv, applyExpose, applyHealthcheck, applyLabel, applyStopsignal, applyVolume, commandArgv, goQuoteList,
} from './metadata.ts';
import type { FromResolver } from './mounts.ts';
import { expandIn, expansionEnv, type StageState } from './state.ts';
import type { NetworkMode, Op, PlannedStage, RunSandboxOptions, Vertex } from './types.ts';

/** What dispatching one stage's instructions needs from the planner. */
export interface StageContext {
  index: number;
  state: StageState;
  stage: PlannedStage;
  vertices: Vertex[];
  /** The stage's latest vertex (its result so far). */
  lastVertex: Vertex;
  network: NetworkMode;
  sandbox?: RunSandboxOptions;
  proxyArgs: ReadonlyMap<string, string>;
  buildArgs: ReadonlyMap<string, string>;
  metaArgs: ReadonlyMap<string, string | undefined>;
  usedArgs: Set<string>;
  resolveFrom: FromResolver;
  /** The id of the last vertex of another, already planned, stage: what COPY --from reads. */
  stageOutput: (stage: number) => string;
  parseTrigger: (text: string, range: SourceRange) => Instruction;
  /** Instructions in the stage counting FROM (BuildKit's `[stage n/N]`). */
  stepCount: number;
  /** Set once CMD is written in this stage, so ENTRYPOINT only clears an inherited CMD. */
  cmdSet?: boolean;
}

function addVertex(ctx: StageContext, op: Op, ins: Pick<Instruction, 'range' | 'original'>, createdBy: string | undefined, emptyLayer: boolean, extraInputs: string[] = []): void {
  const range = ins.range;
  const parent = ctx.stage.vertices[ctx.stage.vertices.length - 1];
  // ONBUILD leaves no history entry (createdBy undefined), as in BuildKit.
  const history = createdBy === undefined ? undefined : emptyLayer
    ? { created_by: createdBy, comment: 'buildkit.dockerfile.v0', empty_layer: true }
    : { created_by: createdBy, comment: 'buildkit.dockerfile.v0' };
  const vertex: Vertex = {
    id: `s${ctx.index}/${ctx.stage.vertices.length}`, stage: ctx.index, op,
    inputs: [parent, ...extraInputs], range, history,
    text: ins.original, stepIndex: ctx.stage.vertices.length + 1, stepCount: ctx.stepCount,
  };
  ctx.vertices.push(vertex);
  ctx.stage.vertices.push(vertex.id);
  ctx.lastVertex = vertex;
  if (history) ctx.state.history.push(history);
}

/** Metadata ops carry nothing but their kind: one frozen object per kind serves every vertex. */
const METADATA_OPS = new Map<string, Op>();

function metadata(ctx: StageContext, ins: Instruction, createdBy: string | undefined): void {
  let op = METADATA_OPS.get(ins.kind);
  if (!op) {
    op = Object.freeze({ kind: 'metadata', instruction: ins.kind }) as Op;
    METADATA_OPS.set(ins.kind, op);
  }
  addVertex(ctx, op, ins, createdBy, true);
}


/**
 * ARG in a stage: value from --build-arg, else its default, else the global ARG of that name.
 * The name is expanded like the value (BuildKit's ArgCommand.Expand: `ARG ${src}=x` with
 * `ENV src=file3` declares file3).
 */
function declareArg(ins: ArgInstruction, ctx: StageContext): string {
  const parts: string[] = [];
  for (const declared of ins.args) {
    const arg = { ...declared, name: expandIn(ctx.state, expansionEnv(ctx.state), declared.name, ins.range) };
    const given = ctx.buildArgs.get(arg.name);
    if (given !== undefined) ctx.usedArgs.add(arg.name);
    let value: string | undefined = given;
    if (value === undefined && arg.defaultValue !== undefined) {
      value = expandIn(ctx.state, expansionEnv(ctx.state), arg.defaultValue, ins.range);
    }
    if (value === undefined) value = ctx.metaArgs.get(arg.name);
    ctx.state.args.set(arg.name, value);
    if (value !== undefined) ctx.state.buildEnv.set(arg.name, value);
    ctx.state.envVersion++;
    parts.push(value === undefined ? arg.name : `${arg.name}=${value}`);
  }
  return `ARG ${parts.join(' ')}`;
}

/** BuildKit's history text for RUN: used build args first as `|N K=V ...`. */
function runHistory(argv: string[], buildArgs: string[]): string {
  const prefix = buildArgs.length ? `|${buildArgs.length} ${buildArgs.join(' ')} ` : '';
  return `RUN ${prefix}${argv.join(' ')} # buildkit`;
}

export function dispatch(ins: Instruction, ctx: StageContext): void {
  const state = ctx.state;
  switch (ins.kind) {
    case 'from':
      return;
    case 'run': {
      const op = planRun(ins, state, { network: ctx.network, proxyArgs: ctx.proxyArgs, sandbox: ctx.sandbox }, ctx.resolveFrom);
      const extra = op.mounts.flatMap((m) => (m.from?.kind === 'stage' ? [ctx.stageOutput(m.from.stage)] : []));
      addVertex(ctx, op, ins, runHistory(op.argv, op.buildArgs), false, extra);
      return;
    }
    case 'copy':
    case 'add': {
      const op = planCopy(ins, state, ctx.resolveFrom);
      const extra = op.from.kind === 'stage' ? [ctx.stageOutput(op.from.stage)] : [];
      const flags = [op.chown ? `--chown=${op.chown} ` : '', op.chmod ? `--chmod=${op.chmod} ` : ''].join('');
      addVertex(ctx, op, ins, `${ins.kind.toUpperCase()} ${flags}${op.sources.join(' ')} ${op.dest} # buildkit`, false, extra);
      return;
    }
    case 'workdir': {
      const op = planWorkdir(ins, state);
      const text = `WORKDIR ${state.config.WorkingDir}`;
      if (op) addVertex(ctx, op, ins, text, false);
      else metadata(ctx, ins, text);
      return;
    }
    case 'env': return metadata(ctx, ins, applyEnv(ins, state));
    case 'label': return metadata(ctx, ins, applyLabel(ins, state));
    case 'expose': return metadata(ctx, ins, applyExpose(ins, state));
    case 'volume': return metadata(ctx, ins, applyVolume(ins, state));
    case 'stopsignal': return metadata(ctx, ins, applyStopsignal(ins, state));
    case 'healthcheck': return metadata(ctx, ins, applyHealthcheck(ins, state));
    case 'arg': return metadata(ctx, ins, declareArg(ins, ctx));
    case 'maintainer':
      ctx.stage.author = ins.name;
      return metadata(ctx, ins, `MAINTAINER ${ins.name}`);
    case 'user': {
      state.config.User = expandIn(state, expansionEnv(state), ins.user, ins.range);
      return metadata(ctx, ins, `USER ${state.config.User}`);
    }
    case 'shell':
      state.config.Shell = [...ins.shell];
      return metadata(ctx, ins, `SHELL [${ins.shell.join(' ')}]`);
    case 'cmd': {
      state.config.Cmd = commandArgv(ins.command, state);
      // BuildKit marks every CMD so (only Windows reads it).
      state.config.ArgsEscaped = true;
      ctx.cmdSet = true;
      return metadata(ctx, ins, `CMD ${goQuoteList(state.config.Cmd)}`);
    }
    case 'entrypoint': {
      const entrypoint = commandArgv(ins.command, state);
      // `ENTRYPOINT []` clears it: BuildKit stores null, not an empty list.
      state.config.Entrypoint = entrypoint.length ? entrypoint : null;
      if (!ctx.cmdSet) state.config.Cmd = null;
      return metadata(ctx, ins, `ENTRYPOINT ${goQuoteList(entrypoint)}`);
    }
    case 'onbuild': {
      state.config.OnBuild = [...(state.config.OnBuild ?? []), ins.expression];
      return metadata(ctx, ins, undefined);
    }
  }
}
