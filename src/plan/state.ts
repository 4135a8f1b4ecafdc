import { BuildError, locateInRange, type SourceRange } from '../source/index.ts';
import { expandWord, expandWords, ShellExpansionError } from '../shell/index.ts';
import type { HistoryEntry, ContainerConfig } from './types.ts';

export const DEFAULT_SHELL = ['/bin/sh', '-c'];
/**
 * Docker's default PATH, for RUN when the image sets none and for `FROM scratch`'s config (the one
 * definition; native/src/exec.c has the same for a command spawned with no PATH at all).
 */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The mutable state of one stage while its instructions are dispatched. */
export interface StageState {
  config: ContainerConfig;
  /** ARGs declared in this stage, with their values (undefined: declared, no value). */
  args: Map<string, string | undefined>;
  history: HistoryEntry[];
  escape: '\\' | '`';
  source: string;
  /**
   * The stage's environment while planning (ordered; a redefined key keeps its place, as in
   * Docker). `config.Env` is written from it when a config is published (materializeEnv).
   */
  env: Map<string, string>;
  /**
   * The build environment RUN and expansion see: the image's ENV, then every ENV and every ARG
   * with a value in instruction order, the last write winning. ARGs never reach `config.Env`.
   */
  buildEnv: Map<string, string>;
  /** Bumped on every ENV and ARG, so derived data (a RUN's environment) can be reused. */
  envVersion: number;
  /** The last RUN environment built, for `envVersion`. */
  runEnvMemo?: { version: number; env: string[]; buildArgs: string[]; unkeyedEnv: string[] };
}

export function cloneConfig(config: ContainerConfig): ContainerConfig {
  return structuredClone(config);
}


/** `K=V` list to an ordered map; later entries win like Docker's env handling. */
export function envToMap(env: readonly string[] | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of env ?? []) {
    const eq = entry.indexOf('=');
    if (eq < 0) map.set(entry, '');
    else map.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return map;
}

export function mapToEnv(map: ReadonlyMap<string, string>): string[] {
  return [...map].map(([k, v]) => `${k}=${v}`);
}

/** Publishes the planning-time environment into `config.Env`. */
export function materializeEnv(state: StageState): ContainerConfig {
  if (state.env.size > 0 || state.config.Env !== undefined) state.config.Env = mapToEnv(state.env);
  return state.config;
}

/**
 * Variables visible to expansion in a stage: the build environment, where ENV and ARG values are
 * written in order and the last write wins (BuildKit's LLB state env). It is a live map, so the
 * same object serves every instruction at no cost.
 */
export function expansionEnv(state: StageState): ReadonlyMap<string, string> {
  return state.buildEnv;
}

/** A ShellExpansionError as a BuildError at the instruction, or at the very `${` when the lexer knows it. */
export function expansionError(error: ShellExpansionError, source: string, range: SourceRange): BuildError {
  const at = error.offset === undefined ? range : locateInRange(source, range, error.word, error.offset);
  return new BuildError(error.message, at, { source });
}

function wrap<T>(state: Pick<StageState, 'source'>, range: SourceRange, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof ShellExpansionError) throw expansionError(error, state.source, range);
    throw error;
  }
}

const PLAIN_WORD = { '\\': /^[^$'"\\]*$/, '`': /^[^$'"`]*$/ };

export function expandIn(
  state: Pick<StageState, 'source' | 'escape'>, env: ReadonlyMap<string, string>, word: string, range: SourceRange,
): string {
  // No variable, quote or escape: the lexer would return the word unchanged.
  if (PLAIN_WORD[state.escape].test(word)) return word;
  return wrap(state, range, () => expandWord(word, env, { escape: state.escape }));
}

export function expandWordsIn(
  state: Pick<StageState, 'source' | 'escape'>, env: ReadonlyMap<string, string>, word: string, range: SourceRange,
): string[] {
  return wrap(state, range, () => expandWords(word, env, { escape: state.escape }));
}
