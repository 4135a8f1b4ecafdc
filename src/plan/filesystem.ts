import path from 'node:path/posix';
import { BuildError } from '../source/index.ts';
import { expandWord, ShellExpansionError } from '../shell/index.ts';
import type { CopyInstruction, RunInstruction, WorkdirInstruction } from '../instructions/index.ts';
import type { Heredoc } from '../syntax/ast.ts';
import { commandArgv } from './metadata.ts';
import { parseMount, type FromResolver } from './mounts.ts';
import { DEFAULT_PATH, expandIn, expansionEnv, expansionError, type StageState } from './state.ts';
import type { CopyOp, NetworkMode, RunOp, RunSandboxOptions, WorkdirOp } from './types.ts';

export interface RunDefaults {
  network: NetworkMode;
  /** Predefined proxy args given with --build-arg: in RUN's environment without an ARG line. */
  proxyArgs: ReadonlyMap<string, string>;
  sandbox?: RunSandboxOptions;
}

/** Where a heredoc-only RUN with a shebang is placed to be executed (as BuildKit does). */
export const HEREDOC_EXEC_DIR = '/dev/pipes';

function heredocScript(ins: RunInstruction, state: StageState): string[] {
  const command = ins.command;
  const script = command.form === 'shell' ? command.script : command.argv.join(' ');
  const only = ins.heredocs.length === 1 && /^<<-?\s*["']?/.test(script.trim()) && script.trim().replace(/^<<-?\s*["']?([^"'\s]+)["']?$/, '$1') === ins.heredocs[0].name;
  if (only) {
    const doc = ins.heredocs[0];
    if (doc.content.startsWith('#!')) return [path.join(HEREDOC_EXEC_DIR, doc.name.replaceAll('/', '_'))];
    return commandArgv({ form: 'shell', script: doc.content }, state);
  }
  // The shell reads the heredocs itself: hand it the command line followed by the bodies.
  const bodies = ins.heredocs.map((doc) => `${doc.content}${doc.name}\n`).join('');
  return commandArgv({ form: 'shell', script: `${script}\n${bodies}` }, state);
}

/**
 * A RUN's process environment: the build environment (ENV and ARG, last write wins), then given
 * proxy args, and a default PATH. Reused while no ENV or ARG changes.
 */
function runEnvironment(state: StageState, defaults: RunDefaults): { env: string[]; buildArgs: string[]; unkeyedEnv: string[] } {
  const memo = state.runEnvMemo;
  if (memo && memo.version === state.envVersion) return memo;
  const buildEnv = state.buildEnv;
  const env: string[] = [];
  for (const [k, v] of buildEnv) env.push(`${k}=${v}`);
  // BuildKit's `|N K=V` history prefix and cache-relevant args: every ARG with a value, as the
  // build environment has it now.
  const buildArgs: string[] = [];
  for (const [k, v] of state.args) if (v !== undefined) buildArgs.push(`${k}=${buildEnv.get(k) ?? v}`);
  const unkeyedEnv: string[] = [];
  for (const [k, v] of defaults.proxyArgs) {
    if (buildEnv.has(k)) continue;
    env.push(`${k}=${v}`);
    unkeyedEnv.push(k);
  }
  if (!buildEnv.has('PATH')) env.push(`PATH=${DEFAULT_PATH}`);
  state.runEnvMemo = { version: state.envVersion, env, buildArgs, unkeyedEnv };
  return state.runEnvMemo;
}

export function planRun(ins: RunInstruction, state: StageState, defaults: RunDefaults, resolveFrom: FromResolver): RunOp {
  // A flag berth cannot honour is an error, never dropped: a step must not build without it.
  const device = ins.devices[0];
  if (device) {
    throw new BuildError('RUN --device is not supported: a RUN step gets only /dev\'s usual nodes', device.range, { source: state.source });
  }
  const argv = ins.heredocs.length > 0 ? heredocScript(ins, state) : commandArgv(ins.command, state);
  const { env, buildArgs, unkeyedEnv } = runEnvironment(state, defaults);
  const expandEnv = expansionEnv(state);
  const mounts = ins.mounts.map((flag) => {
    const text = expandIn(state, expandEnv, flag.value, flag.range);
    return parseMount(text, flag.range, state.source, resolveFrom);
  });
  return {
    kind: 'run', argv, env, cwd: state.config.WorkingDir || '/', user: state.config.User ?? '',
    network: runNetwork(ins.network?.value, defaults.network),
    security: (ins.security?.value as RunOp['security'] | undefined) ?? 'sandbox',
    mounts, heredocs: ins.heredocs, buildArgs, unkeyedEnv, ...(defaults.sandbox ? { sandbox: defaults.sandbox } : {}),
  };
}

/** `RUN --network=default` (or no flag) is the build's mode; the parser allows only these words. */
function runNetwork(flag: string | undefined, buildDefault: NetworkMode): NetworkMode {
  if (flag === undefined || flag === 'default') return buildDefault;
  return flag as NetworkMode;
}

/** WORKDIR changes the config and, unless it is `/`, creates the directory. */
export function planWorkdir(ins: WorkdirInstruction, state: StageState): WorkdirOp | undefined {
  const raw = expandIn(state, expansionEnv(state), ins.path, ins.range);
  // Docker keeps an absolute WORKDIR as written and joins (cleans) a relative one onto the last.
  const config = raw.startsWith('/') ? raw : path.join('/', state.config.WorkingDir ?? '/', raw);
  const clean = path.normalize(config);
  const dir = clean.length > 1 ? clean.replace(/\/+$/, '') : clean;
  state.config.WorkingDir = config;
  return dir === '/' ? undefined : { kind: 'workdir', path: dir, user: state.config.User ?? '' };
}

/** Heredoc bodies expand variables but leave quotes alone (BuildKit's SkipProcessQuotes). */
function heredocContent(doc: Heredoc, state: StageState, env: ReadonlyMap<string, string>, range: CopyInstruction['range']): string {
  if (!doc.expand) return doc.content;
  try {
    return expandWord(doc.content, env, { escape: state.escape, skipProcessQuotes: true });
  } catch (error) {
    // The lexer's offset is into the body, so it is looked for there; other errors name the line.
    if (error instanceof ShellExpansionError) throw expansionError(error, state.source, error.offset === undefined ? range : doc.range);
    throw error;
  }
}

export function planCopy(ins: CopyInstruction, state: StageState, resolveFrom: FromResolver): CopyOp {
  const env = expansionEnv(state);
  const ex = (word: string): string => expandIn(state, env, word, ins.range);
  const heredocNames = new Map(ins.heredocs.map((doc) => [doc.name, doc]));
  const heredocs: CopyOp['heredocs'] = [];
  const sources = ins.sources.map((word) => {
    const m = /^<<-?["']?([^"']+)["']?$/.exec(word);
    const doc = m ? heredocNames.get(m[1]) : undefined;
    if (doc) {
      heredocs.push({ name: doc.name, content: heredocContent(doc, state, env, ins.range) });
      return word;
    }
    // An empty source (`COPY ""`, or a variable that expands to nothing) is the root, like `.`:
    // BuildKit cleans "" to "." (Docker 20.10 and 26 agree).
    return ex(word) || '.';
  });
  const rawDest = ex(ins.dest);
  const cwd = state.config.WorkingDir || '/';
  const trailing = rawDest.endsWith('/') || rawDest === '.' || rawDest.endsWith('/.');
  let dest = rawDest.startsWith('/') ? rawDest : path.join(cwd, rawDest);
  dest = path.normalize(dest);
  if (trailing && !dest.endsWith('/')) dest += '/';
  // Docker never expands --from (BuildKit says so in as many words).
  if (ins.from && /\$/.test(ins.from.value)) {
    throw new BuildError('variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround', ins.from.range, { source: state.source });
  }
  const from = ins.from ? resolveFrom(ins.from.value, ins.from.range) : { kind: 'context' as const };
  return {
    kind: 'copy', add: ins.kind === 'add', from, sources, dest,
    chown: ins.chown ? ex(ins.chown.value) : undefined,
    chmod: ins.chmod ? ex(ins.chmod.value) : undefined,
    link: ins.link, parents: ins.parents, exclude: ins.exclude.map((f) => ex(f.value)),
    checksum: ins.checksum ? ex(ins.checksum.value) : undefined,
    unpack: ins.unpack, keepGitDir: ins.keepGitDir, heredocs,
    user: state.config.User ?? '', cwd,
  };
}
