/**
 * The rules about FROM lines: build args used in the base name and in --platform, and whether the
 * global ARGs' defaults alone make a valid base name. Also works out, for the stage rules, what
 * each stage is built from.
 */
import type { ArgInstruction, FromInstruction } from '../instructions/index.ts';
import { expandWordWithMatches, type ShellOptions } from '../shell/index.ts';
import { isReference } from '../image/reference.ts';
import type { Linter } from './config.ts';
import { MESSAGES, RULES } from './rules.ts';
import { suggestName } from './suggest.ts';

export interface StageBase {
  index: number;
  from: FromInstruction;
  /** Lower-case stage name, as BuildKit keeps it. */
  name?: string;
  /** The expanded base name, undefined when it could not be expanded. */
  baseName?: string;
  /** The earlier stage this one is built FROM. */
  baseStage?: number;
  /** The expanded --platform, when given and expandable. */
  platform?: string;
}

type Env = Map<string, string>;

/** BuildKit's buildMetaArgs: global ARGs in order, each default expanded with what came before. */
export function metaArgs(defaults: ReadonlyMap<string, string>, globals: readonly ArgInstruction[],
  buildArgs: ReadonlyMap<string, string>, shell: ShellOptions): { env: Env; declared: string[] } | undefined {
  const env: Env = new Map(defaults);
  const declared: string[] = [];
  try {
    for (const ins of globals) {
      for (const arg of ins.args) {
        declared.push(arg.name);
        const given = buildArgs.get(arg.name);
        if (given !== undefined) env.set(arg.name, given);
        else if (arg.defaultValue !== undefined) env.set(arg.name, expandWordWithMatches(arg.defaultValue, env, shell).result);
      }
    }
  } catch {
    return undefined; // the plan reports the expansion error
  }
  return { env, declared };
}

/** containerd's platforms.Parse, far enough to tell the OS and architecture. */
export function parsePlatform(text: string): { os: string; arch: string } | undefined {
  const parts = text.toLowerCase().split('/');
  if (parts.some((p) => !/^[a-z0-9_.-]+$/.test(p)) || parts.length > 3) return undefined;
  const archOf = (a: string): string => ({ x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', armhf: 'arm', armel: 'arm', i386: '386' })[a] ?? a;
  if (parts.length === 1) {
    const known = ['linux', 'windows', 'darwin', 'freebsd', 'netbsd', 'openbsd', 'solaris', 'illumos', 'android', 'ios', 'aix', 'plan9', 'js', 'wasip1', 'dragonfly'];
    return known.includes(parts[0]) ? { os: parts[0], arch: 'amd64' } : { os: 'linux', arch: archOf(parts[0]) };
  }
  return { os: parts[0], arch: archOf(parts[1]) };
}

function checkPlatform(stage: StageBase, env: Env, argKeys: string[], linter: Linter, shell: ShellOptions): void {
  const flag = stage.from.platform;
  if (!flag) return;
  let match;
  try {
    match = expandWordWithMatches(flag.value, env, shell);
  } catch {
    return;
  }
  reportUndeclared(match.unmatched, argKeys, stage.from, linter);
  if (match.matched.size === 1 && match.unmatched.size === 0 && match.matched.has('TARGETPLATFORM') && match.result === env.get('TARGETPLATFORM')) {
    linter.report(RULES.RedundantTargetPlatform, stage.from.range, MESSAGES.RedundantTargetPlatform(flag.value));
  }
  if (match.matched.size === 0 && match.unmatched.size === 0) {
    const p = parsePlatform(match.result);
    const name = stage.name ?? '';
    if (p && !name.includes(p.os) && !name.includes(p.arch)) {
      linter.report(RULES.FromPlatformFlagConstDisallowed, stage.from.range, MESSAGES.FromPlatformFlagConstDisallowed(match.result));
    }
  }
  if (match.result !== '') stage.platform = match.result;
}

function reportUndeclared(unmatched: ReadonlySet<string>, argKeys: string[], from: FromInstruction, linter: Linter): void {
  for (const name of unmatched) {
    if (argKeys.includes(name)) continue;
    linter.report(RULES.UndefinedArgInFrom, from.range, MESSAGES.UndefinedArgInFrom(name, suggestName(name, argKeys, true)));
  }
}

/** InvalidDefaultArgInFrom: the base names with no build args given, only defaults. */
function checkDefaults(froms: readonly FromInstruction[], defaults: ReadonlyMap<string, string>, globals: readonly ArgInstruction[], linter: Linter, shell: ShellOptions): void {
  const meta = metaArgs(defaults, globals, new Map(), shell);
  if (!meta) return;
  for (const from of froms) {
    let result;
    try {
      result = expandWordWithMatches(from.image, meta.env, shell).result;
    } catch {
      return;
    }
    if (!isReference(result)) linter.report(RULES.InvalidDefaultArgInFrom, from.range, MESSAGES.InvalidDefaultArgInFrom(from.image));
  }
}

/**
 * Runs the FROM rules over every stage (whatever the target, as BuildKit does) and returns the
 * stages with their bases, plus the global build environment; undefined when the global ARGs do
 * not expand (the plan reports that).
 */
export function lintFroms(froms: readonly FromInstruction[], globals: readonly ArgInstruction[], defaults: ReadonlyMap<string, string>,
  buildArgs: ReadonlyMap<string, string>, linter: Linter, shell: ShellOptions): { stages: StageBase[]; globalEnv: Env } | undefined {
  checkDefaults(froms, defaults, globals, linter, shell);
  const meta = metaArgs(defaults, globals, buildArgs, shell);
  if (!meta) return undefined;
  const argKeys = [...new Set([...meta.declared, ...meta.env.keys()])];
  const byName = new Map<string, number>();
  const stages: StageBase[] = [];
  for (const [index, from] of froms.entries()) {
    const stage: StageBase = { index, from, ...(from.stageName ? { name: from.stageName } : {}) };
    try {
      const match = expandWordWithMatches(from.image, meta.env, shell);
      reportUndeclared(match.unmatched, argKeys, from, linter);
      stage.baseName = match.result;
      const base = byName.get(match.result);
      if (base !== undefined) stage.baseStage = base;
    } catch {
      // left unexpanded: the plan reports the error
    }
    checkPlatform(stage, meta.env, argKeys, linter, shell);
    if (stage.name) byName.set(stage.name, index);
    stages.push(stage);
  }
  return { stages, globalEnv: meta.env };
}
