import { BuildError, type SourceRange } from '../source/index.ts';
import { expandWord, expandWords, ShellExpansionError } from '../shell/index.ts';
import type { HistoryEntry, ImageConfig } from './types.ts';

export const DEFAULT_SHELL = ['/bin/sh', '-c'];
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The mutable state of one stage while its instructions are dispatched. */
export interface StageState {
  config: ImageConfig;
  /** ARGs declared in this stage, with their values (undefined: declared, no value). */
  args: Map<string, string | undefined>;
  history: HistoryEntry[];
  escape: '\\' | '`';
  source: string;
}

export function cloneConfig(config: ImageConfig): ImageConfig {
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

/** Sets `key` in a `K=V` list, replacing in place (Docker keeps the original position). */
export function setEnv(env: string[] | undefined, key: string, value: string): string[] {
  const out = [...(env ?? [])];
  const i = out.findIndex((e) => e === key || e.startsWith(`${key}=`));
  if (i >= 0) out[i] = `${key}=${value}`;
  else out.push(`${key}=${value}`);
  return out;
}

/** Variables visible to expansion in a stage: ARGs with values, then ENV (which wins). */
export function expansionEnv(state: StageState): Map<string, string> {
  const env = new Map<string, string>();
  for (const [k, v] of state.args) if (v !== undefined) env.set(k, v);
  for (const [k, v] of envToMap(state.config.Env)) env.set(k, v);
  return env;
}

function wrap<T>(state: Pick<StageState, 'source'>, range: SourceRange, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof ShellExpansionError) throw new BuildError(error.message, range, { source: state.source });
    throw error;
  }
}

export function expandIn(
  state: Pick<StageState, 'source' | 'escape'>, env: ReadonlyMap<string, string>, word: string, range: SourceRange,
): string {
  return wrap(state, range, () => expandWord(word, env, { escape: state.escape }));
}

export function expandWordsIn(
  state: Pick<StageState, 'source' | 'escape'>, env: ReadonlyMap<string, string>, word: string, range: SourceRange,
): string[] {
  return wrap(state, range, () => expandWords(word, env, { escape: state.escape }));
}
