/**
 * The rules BuildKit applies while it dispatches each stage's instructions: undefined variables,
 * WORKDIR, CMD/ENTRYPOINT form, repeated instructions, secrets in ARG/ENV, legacy ENV/LABEL, EXPOSE
 * format, COPY of ignored files. Each stage is walked with the little state these rules need
 * (variables, declared ARGs, whether a SHELL or WORKDIR was set), inherited by stages built FROM it.
 */
import type { Instruction } from '../instructions/index.ts';
import type { InstructionNode } from '../syntax/ast.ts';
import type { SourceRange } from '../source/range.ts';
import type { IgnoreMatcher } from '../context/dockerignore.ts';
import { expandWords, expandWordWithMatches, type ShellOptions } from '../shell/index.ts';
import { DEFAULT_PATH } from '../plan/state.ts';
import type { Linter } from './config.ts';
import type { StageBase } from './from.ts';
import { MESSAGES, RULES } from './rules.ts';
import { suggestName } from './suggest.ts';
import { nodeRange } from './syntax.ts';

/** What the checks need to know of a base image. */
export interface BaseImageFacts {
  env?: readonly string[];
  shell?: readonly string[];
  os?: string;
  architecture?: string;
  variant?: string;
}

export type BaseImageLookup = (ref: string) => Promise<BaseImageFacts | undefined>;

interface WalkState {
  env: Map<string, string>;
  /** Names declared by ARG in this stage (or the stage it is built FROM). */
  declared: Set<string>;
  shellSet: boolean;
  workdirSet: boolean;
  /** The stage's OS: Windows paths (`C:\\x`) are absolute there (BuildKit's system.IsAbs). */
  os: string;
}

interface Walk {
  state: WalkState;
  linter: Linter;
  shell: ShellOptions;
  globalEnv: ReadonlyMap<string, string>;
  buildArgs: ReadonlyMap<string, string>;
  ignore?: IgnoreMatcher;
  used: Map<string, SourceRange>;
}

/** Build args BuildKit never turns into environment variables, so never reports. */
const NON_ENV_ARGS = new Set(['BUILDKIT_SBOM_SCAN_CONTEXT', 'BUILDKIT_SBOM_SCAN_STAGE']);

const SECRET = /(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)/i;
const PUBLIC = /(?:_|^)(?:public)(?:_|$)/i;

/** BuildKit's ProcessWord plus reportUnmatchedVariables: expands, reporting what is undefined. */
function expand(walk: Walk, word: string, range: SourceRange, options: ShellOptions = walk.shell): string {
  let match;
  try {
    match = expandWordWithMatches(word, walk.state.env, options);
  } catch {
    return word; // the plan reports the bad word
  }
  for (const name of match.unmatched) {
    if (walk.state.declared.has(name) || NON_ENV_ARGS.has(name)) continue;
    const suggestion = suggestName(name, [...walk.state.env.keys()], true);
    walk.linter.report(RULES.UndefinedVar, range, MESSAGES.UndefinedVar(name, suggestion));
  }
  return match.result;
}

function checkSecret(walk: Walk, instruction: 'ARG' | 'ENV', key: string, range: SourceRange): void {
  if (SECRET.test(key) && !PUBLIC.test(key)) walk.linter.report(RULES.SecretsUsedInArgOrEnv, range, MESSAGES.SecretsUsedInArgOrEnv(instruction, key));
}

/** True for ENV/LABEL pairs written `key value` (the parser's empty separator). */
function legacyPairs(node: InstructionNode): number {
  let count = 0;
  for (let i = 2; i < node.args.length; i += 3) if (node.args[i] === '') count++;
  return count;
}

function usedOnce(walk: Walk, kind: string, keyword: string, range: SourceRange): void {
  const previous = walk.used.get(kind);
  // Reported at the earlier one: that is the instruction that has no effect.
  if (previous) walk.linter.report(RULES.MultipleInstructionsDisallowed, previous, MESSAGES.MultipleInstructionsDisallowed(keyword));
  walk.used.set(kind, range);
}

/** splitParts and the protocol split of BuildKit's EXPOSE parsing. */
function checkPort(walk: Walk, raw: string, range: SourceRange): void {
  const parts = raw.split(':');
  const ip = parts.length >= 3 ? parts.slice(0, parts.length - 2).join(':') : '';
  const hostPort = parts.length >= 2 ? parts[parts.length - 2] : '';
  const container = parts[parts.length - 1];
  const slash = container.indexOf('/');
  const proto = slash < 0 ? 'tcp' : container.slice(slash + 1);
  if (slash === 0 || container === '') return; // an error the plan reports
  if (proto !== proto.toLowerCase()) walk.linter.report(RULES.ExposeProtoCasing, range, MESSAGES.ExposeProtoCasing(raw));
  if (ip !== '' || hostPort !== '') walk.linter.report(RULES.ExposeInvalidFormat, range, MESSAGES.ExposeInvalidFormat(raw));
}

function isAbsolute(path: string, os: string): boolean {
  if (os !== 'windows') return path.startsWith('/');
  return /^[\\/]/.test(path) || /^[a-zA-Z]:[\\/]/.test(path);
}

function isRemote(src: string): boolean {
  return /^https?:\/\//.test(src) || /^git@/.test(src) || /^git:\/\//.test(src) || /\.git(#|$)/.test(src);
}

function dispatchArg(walk: Walk, ins: Extract<Instruction, { kind: 'arg' }>, range: SourceRange): void {
  for (const arg of ins.args) {
    checkSecret(walk, 'ARG', arg.name, range);
    const given = walk.buildArgs.get(arg.name);
    let value: string | undefined;
    if (given !== undefined) value = given;
    else if (arg.defaultValue !== undefined) value = expand(walk, arg.defaultValue, range);
    else value = walk.globalEnv.get(arg.name);
    if (value !== undefined && !NON_ENV_ARGS.has(arg.name)) walk.state.env.set(arg.name, value);
    walk.state.declared.add(arg.name);
  }
}

function dispatchCopy(walk: Walk, ins: Extract<Instruction, { kind: 'copy' | 'add' }>, range: SourceRange): void {
  if (ins.chown) expand(walk, ins.chown.value, range);
  if (ins.chmod) expand(walk, ins.chmod.value, range);
  const sources = ins.sources.map((s) => expand(walk, s, range));
  expand(walk, ins.dest, range);
  for (const heredoc of ins.heredocs) if (heredoc.expand) expand(walk, heredoc.content, range, { escape: '\\', skipProcessQuotes: true });
  const fromContext = ins.kind === 'add' || !ins.from;
  if (!walk.ignore || !fromContext) return;
  for (const src of sources) {
    if (ins.kind === 'add' && isRemote(src)) continue;
    if (walk.ignore.matches(src)) walk.linter.report(RULES.CopyIgnoredFile, range, MESSAGES.CopyIgnoredFile(ins.kind === 'add' ? 'Add' : 'Copy', src));
  }
}

function dispatchOne(walk: Walk, ins: Instruction, node: InstructionNode): void {
  const range = nodeRange(node);
  const keyword = node.keywordAsWritten;
  const { state } = walk;
  switch (ins.kind) {
    case 'env': {
      const pairs = ins.pairs.map((p) => ({ key: expand(walk, p.key, range), value: expand(walk, p.value, range) }));
      for (let n = legacyPairs(node); n > 0; n--) walk.linter.report(RULES.LegacyKeyValueFormat, range, MESSAGES.LegacyKeyValueFormat(keyword));
      for (const pair of pairs) {
        checkSecret(walk, 'ENV', pair.key, range);
        state.env.set(pair.key, pair.value);
      }
      break;
    }
    case 'label':
      for (const p of ins.pairs) {
        expand(walk, p.key, range);
        expand(walk, p.value, range);
      }
      for (let n = legacyPairs(node); n > 0; n--) walk.linter.report(RULES.LegacyKeyValueFormat, range, MESSAGES.LegacyKeyValueFormat(keyword));
      break;
    case 'arg': dispatchArg(walk, ins, range); break;
    case 'workdir': {
      const path = expand(walk, ins.path, range);
      if (!state.workdirSet && !isAbsolute(path, state.os)) walk.linter.report(RULES.WorkdirRelativePath, range, MESSAGES.WorkdirRelativePath(path));
      state.workdirSet = true;
      break;
    }
    case 'user': expand(walk, ins.user, range); break;
    case 'volume': for (const p of ins.paths) expand(walk, p, range); break;
    case 'stopsignal': expand(walk, ins.signal, range); break;
    case 'copy': case 'add': dispatchCopy(walk, ins, range); break;
    case 'shell': state.shellSet = true; break;
    case 'cmd': case 'entrypoint':
      usedOnce(walk, ins.kind, keyword, range);
      if (ins.command.form === 'shell' && !state.shellSet) walk.linter.report(RULES.JSONArgsRecommended, range, MESSAGES.JSONArgsRecommended(keyword));
      break;
    case 'healthcheck': usedOnce(walk, ins.kind, keyword, range); break;
    case 'expose':
      for (const word of ins.ports) {
        let ports: string[];
        try {
          ports = expandWords(word, state.env, walk.shell);
        } catch {
          continue;
        }
        for (const p of ports) checkPort(walk, p, range);
      }
      break;
    default: break;
  }
}

function cloneState(s: WalkState): WalkState {
  return { env: new Map(s.env), declared: new Set(s.declared), shellSet: s.shellSet, workdirSet: s.workdirSet, os: s.os };
}

export interface StageWalkOptions {
  shell: ShellOptions;
  globalEnv: ReadonlyMap<string, string>;
  buildArgs: ReadonlyMap<string, string>;
  ignore?: IgnoreMatcher;
  lookup?: BaseImageLookup;
  /** The stages a build dispatches (reachable from its target); every stage when absent. */
  reachable?: ReadonlySet<number>;
  targetPlatform: string;
}

function platformString(os: string, arch: string, variant?: string): string {
  return `${os}/${arch}${variant ? `/${variant}` : ''}`;
}

async function initialState(stage: StageBase, finals: Map<number, WalkState>, facts: BaseImageFacts | undefined): Promise<WalkState> {
  if (stage.baseStage !== undefined) {
    const base = finals.get(stage.baseStage);
    if (base) return cloneState(base);
  }
  const env = new Map<string, string>();
  for (const entry of facts?.env ?? []) {
    const eq = entry.indexOf('=');
    env.set(eq < 0 ? entry : entry.slice(0, eq), eq < 0 ? '' : entry.slice(eq + 1));
  }
  if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
  const os = facts?.os ?? stage.platform?.split('/')[0] ?? 'linux';
  return { env, declared: new Set(), shellSet: (facts?.shell?.length ?? 0) > 0, workdirSet: false, os };
}

/** Walks every stage in order; `bodies[i]` pairs stage i's instructions with their parser nodes. */
export async function lintStages(stages: readonly StageBase[], bodies: ReadonlyArray<ReadonlyArray<[Instruction, InstructionNode]>>,
  linter: Linter, options: StageWalkOptions): Promise<void> {
  const finals = new Map<number, WalkState>();
  const muted: Linter = { warnings: [], report: () => {} };
  for (const stage of stages) {
    const reachable = !options.reachable || options.reachable.has(stage.index);
    const isImage = stage.baseStage === undefined && stage.baseName !== undefined && stage.baseName !== 'scratch';
    const facts = isImage && options.lookup ? await options.lookup(stage.baseName!) : undefined;
    if (reachable && facts?.os && facts.architecture) {
      const expected = stage.platform ?? options.targetPlatform;
      const [os, arch] = expected.split('/');
      if (os !== facts.os || arch !== facts.architecture) {
        linter.report(RULES.InvalidBaseImagePlatform, stage.from.range,
          MESSAGES.InvalidBaseImagePlatform(stage.baseName!, expected, platformString(facts.os, facts.architecture, facts.variant)));
      }
    }
    const walk: Walk = {
      state: await initialState(stage, finals, facts), linter: reachable ? linter : muted, shell: options.shell,
      globalEnv: options.globalEnv, buildArgs: options.buildArgs, ignore: options.ignore, used: new Map(),
    };
    for (const [ins, node] of bodies[stage.index] ?? []) dispatchOne(walk, ins, node);
    finals.set(stage.index, walk.state);
  }
}
