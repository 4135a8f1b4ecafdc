import { BuildError } from '../source/index.ts';
import type {
  CommandForm, EnvInstruction, ExposeInstruction, HealthcheckInstruction, LabelInstruction,
  StopsignalInstruction, VolumeInstruction,
} from '../instructions/index.ts';
import { DEFAULT_SHELL, expandIn, expandWordsIn, expansionEnv, type StageState } from './state.ts';
import type { HealthConfig } from './types.ts';

/** Go's %q of a string slice, as BuildKit writes CMD/ENTRYPOINT into history. */
export function goQuoteList(items: readonly string[]): string {
  return `[${items.map((s) => JSON.stringify(s)).join(' ')}]`;
}

/** Shell form gets the stage's SHELL prepended; exec form is used as is. */
export function commandArgv(command: CommandForm, state: StageState): string[] {
  if (command.form === 'exec') return [...command.argv];
  return [...(state.config.Shell ?? DEFAULT_SHELL), command.script];
}

export function applyEnv(ins: EnvInstruction, state: StageState): string {
  // Every pair sees the variables as they were before this instruction (Docker's rule).
  const env = expansionEnv(state);
  const parts: string[] = [];
  const pending: Array<[string, string]> = [];
  for (const pair of ins.pairs) {
    const key = expandIn(state, env, pair.key, ins.range);
    const value = expandIn(state, env, pair.value, ins.range);
    pending.push([key, value]);
    parts.push(`${key}=${value}`);
  }
  for (const [key, value] of pending) {
    state.env.set(key, value);
    state.buildEnv.set(key, value);
  }
  state.envVersion++;
  return `ENV ${parts.join(' ')}`;
}

export function applyLabel(ins: LabelInstruction, state: StageState): string {
  const env = expansionEnv(state);
  const parts: string[] = [];
  // Mutated in place: published configs are copies (see snapshotConfig and the planner).
  const labels = (state.config.Labels ??= {});
  for (const pair of ins.pairs) {
    const key = expandIn(state, env, pair.key, ins.range);
    const value = expandIn(state, env, pair.value, ins.range);
    if (key === '') throw new BuildError('LABEL names can not be blank', ins.range, { source: state.source });
    labels[key] = value;
    parts.push(`${key}=${value}`);
  }
  return `LABEL ${parts.join(' ')}`;
}

/** `80`, `80/udp`, `8000-8002/tcp` to Docker's `port/proto` keys. */
export function exposedPorts(words: string[], state: StageState, range: StageRange): string[] {
  const out: string[] = [];
  for (const word of words) {
    const m = /^(?:.*:)?(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(word);
    if (!m) throw new BuildError(`invalid containerPort: ${word}`, range, { source: state.source });
    const start = Number(m[1]);
    const end = m[2] === undefined ? start : Number(m[2]);
    if (end < start || end > 65535) throw new BuildError(`invalid range specified for containerPort: ${word}`, range, { source: state.source });
    const proto = (m[3] ?? 'tcp').toLowerCase();
    for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  }
  return out;
}
type StageRange = ExposeInstruction['range'];

export function applyExpose(ins: ExposeInstruction, state: StageState): string {
  const env = expansionEnv(state);
  const words = ins.ports.flatMap((p) => expandWordsIn(state, env, p, ins.range));
  const ports = exposedPorts(words, state, ins.range);
  const exposed = (state.config.ExposedPorts ??= {});
  for (const port of ports) exposed[port] = {};
  return `EXPOSE map[${[...ports].sort().map((p) => `${p}:{}`).join(' ')}]`;
}

export function applyVolume(ins: VolumeInstruction, state: StageState): string {
  const env = expansionEnv(state);
  const volumes = (state.config.Volumes ??= {});
  const paths = ins.paths.map((p) => expandIn(state, env, p, ins.range).trim());
  for (const p of paths) {
    if (p.trim() === '') throw new BuildError('VOLUME specified can not be an empty string', ins.range, { source: state.source });
    volumes[p] = {};
  }
  return `VOLUME [${paths.join(' ')}]`;
}

/** Linux signal names Docker's signal.ParseSignal knows (without the SIG prefix). */
const SIGNALS = new Set([
  'ABRT', 'ALRM', 'BUS', 'CHLD', 'CLD', 'CONT', 'FPE', 'HUP', 'ILL', 'INT', 'IO', 'IOT', 'KILL', 'PIPE',
  'POLL', 'PROF', 'PWR', 'QUIT', 'SEGV', 'STKFLT', 'STOP', 'SYS', 'TERM', 'TRAP', 'TSTP', 'TTIN', 'TTOU',
  'UNUSED', 'URG', 'USR1', 'USR2', 'VTALRM', 'WINCH', 'XCPU', 'XFSZ',
]);

function validSignal(text: string): boolean {
  if (/^\d+$/.test(text)) return Number(text) > 0 && Number(text) <= 64;
  const name = text.toUpperCase().replace(/^SIG/, '');
  if (SIGNALS.has(name)) return true;
  const rt = /^RTM(IN|AX)([+-](\d+))?$/.exec(name);
  return rt !== null && (rt[3] === undefined || Number(rt[3]) <= 30);
}

export function applyStopsignal(ins: StopsignalInstruction, state: StageState): string {
  const signal = expandIn(state, expansionEnv(state), ins.signal, ins.range);
  if (!validSignal(signal)) {
    throw new BuildError(`Invalid signal: ${signal}`, ins.range, { source: state.source });
  }
  state.config.StopSignal = signal;
  return `STOPSIGNAL ${signal}`;
}

export function applyHealthcheck(ins: HealthcheckInstruction, state: StageState): string {
  let health: HealthConfig;
  if (ins.test === 'none') health = { Test: ['NONE'] };
  else {
    const test = ins.command.form === 'exec' ? ['CMD', ...ins.command.argv] : ['CMD-SHELL', ins.command.script];
    health = { Test: test };
    const o = ins.options;
    if (o.interval !== undefined) health.Interval = o.interval;
    if (o.timeout !== undefined) health.Timeout = o.timeout;
    if (o.startPeriod !== undefined) health.StartPeriod = o.startPeriod;
    if (o.startInterval !== undefined) health.StartInterval = o.startInterval;
    if (o.retries !== undefined) health.Retries = o.retries;
  }
  state.config.Healthcheck = health;
  return `HEALTHCHECK &{${goQuoteList(health.Test ?? [])} "${health.Interval ?? 0}" "${health.Timeout ?? 0}" "${health.StartPeriod ?? 0}" "${health.StartInterval ?? 0}" '${health.Retries ?? 0}'}`;
}
