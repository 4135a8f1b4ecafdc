/**
 * `berth build --call=outline|targets[,format=json]`, as buildx's subrequests answer them:
 * `targets` lists the Dockerfile's named stages (the last one the default) with their
 * descriptions; `outline` tells what the chosen target uses: its build args (value, description),
 * the secrets and ssh sockets its RUN mounts ask for. A description is the comment right above
 * the line, in BuildKit's form `# <name> <description>`. The JSON forms carry BuildKit's field
 * names (frontend/subrequests: Outline, Target). Nothing is built.
 */
import type { BuildPlan } from '../plan/index.ts';
import type { InstructionNode, ParsedDockerfile } from '../syntax/ast.ts';
import { BuildError } from '../source/index.ts';
import { commentsAbove } from '../lint/syntax.ts';
import { formatColumns } from '../text/units.ts';

export interface CallRequest { method: 'build' | 'check' | 'outline' | 'targets'; json: boolean }

/** `--call` as buildx reads it: `outline`, `targets,format=json`, `check`, `build`. */
export function parseCall(text: string | undefined): CallRequest {
  if (text === undefined) return { method: 'build', json: false };
  const [method, ...options] = text.split(',');
  if (method !== 'build' && method !== 'check' && method !== 'outline' && method !== 'targets') {
    throw new BuildError(`invalid --call "${text}" (build, check, outline or targets)`);
  }
  let json = false;
  for (const option of options) {
    if (option === 'format=json') json = true;
    else if (option !== 'format=text') throw new BuildError(`invalid --call option "${option}" (format=json or format=text)`);
  }
  return { method, json };
}

/** The description a `# <name> <description>` comment right above `node` gives `name`. */
function descriptionOf(parsed: ParsedDockerfile, node: InstructionNode, name: string): string | undefined {
  const comments = commentsAbove(parsed.source, node.range.start.line);
  const text = comments.join(' ');
  return text.startsWith(`${name} `) ? text.slice(name.length + 1).trim() || undefined : undefined;
}

interface Stage { name?: string; description?: string; nodes: InstructionNode[] }

function stagesOf(parsed: ParsedDockerfile): { global: InstructionNode[]; stages: Stage[] } {
  const global: InstructionNode[] = [];
  const stages: Stage[] = [];
  for (const node of parsed.instructions) {
    if (node.keyword === 'from') {
      const name = node.args.length === 3 && node.args[1].toLowerCase() === 'as' ? node.args[2].toLowerCase() : undefined;
      stages.push({ name, description: name === undefined ? undefined : descriptionOf(parsed, node, name), nodes: [] });
    } else if (stages.length === 0) {
      global.push(node);
    } else {
      stages.at(-1)!.nodes.push(node);
    }
  }
  return { global, stages };
}

export interface OutlineArg { name: string; value?: string; description?: string }

export interface Outline {
  name?: string;
  description?: string;
  args: OutlineArg[];
  secrets: Array<{ name: string; required?: boolean }>;
  ssh: Array<{ name: string; required?: boolean }>;
}

function argsOf(parsed: ParsedDockerfile, nodes: InstructionNode[], buildArgs: ReadonlyMap<string, string>, seen: Set<string>): OutlineArg[] {
  const out: OutlineArg[] = [];
  for (const node of nodes) {
    if (node.keyword !== 'arg') continue;
    for (const word of node.args) {
      const eq = word.indexOf('=');
      const name = eq < 0 ? word : word.slice(0, eq);
      if (seen.has(name)) continue;
      seen.add(name);
      const value = buildArgs.get(name) ?? (eq < 0 ? undefined : word.slice(eq + 1));
      out.push({ name, ...(value !== undefined ? { value } : {}), ...optional('description', descriptionOf(parsed, node, name)) });
    }
  }
  return out;
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

/** What the plan's target uses: build args of its stages (and the global ones), secrets, ssh. */
export function outlineOf(parsed: ParsedDockerfile, plan: BuildPlan, buildArgs: ReadonlyMap<string, string>): Outline {
  const { global, stages } = stagesOf(parsed);
  const target = stages[plan.target];
  const seen = new Set<string>();
  const args = argsOf(parsed, global, buildArgs, seen);
  for (const planned of plan.stages) args.push(...argsOf(parsed, stages[planned.index]?.nodes ?? [], buildArgs, seen));
  const secrets = new Map<string, boolean>();
  const ssh = new Map<string, boolean>();
  for (const vertex of plan.vertices) {
    if (vertex.op.kind !== 'run') continue;
    for (const m of vertex.op.mounts) {
      // An unnamed secret is named after its target's last element, as BuildKit names it.
      const into = m.type === 'secret' ? secrets : m.type === 'ssh' ? ssh : undefined;
      const name = m.id ?? (m.type === 'ssh' ? 'default' : m.target.split('/').pop() ?? '');
      if (into) into.set(name, (into.get(name) ?? false) || m.required === true);
    }
  }
  const listed = (entries: Map<string, boolean>) => [...entries].map(([name, required]) => ({ name, ...(required ? { required } : {}) }));
  return { ...optional('name', target?.name), ...optional('description', target?.description), args, secrets: listed(secrets), ssh: listed(ssh) };
}

const table = (rows: string[][]): string => formatColumns(rows, 2);

export function formatOutline(outline: Outline, json: boolean): string {
  // BuildKit's Outline leaves empty lists out (omitempty).
  if (json) return `${JSON.stringify(outline, (key, value: unknown) => (Array.isArray(value) && value.length === 0 && key !== '' ? undefined : value), 2)}\n`;
  const parts: string[] = [];
  const head: string[][] = [];
  if (outline.name) head.push(['TARGET:', outline.name]);
  if (outline.description) head.push(['DESCRIPTION:', outline.description]);
  if (head.length) parts.push(table(head));
  if (outline.args.length) parts.push(table([['BUILD ARG', 'VALUE', 'DESCRIPTION'], ...outline.args.map((a) => [a.name, a.value ?? '', a.description ?? ''])]));
  if (outline.secrets.length) parts.push(table([['SECRET', 'REQUIRED'], ...outline.secrets.map((s) => [s.name, s.required ? 'true' : ''])]));
  if (outline.ssh.length) parts.push(table([['SSH', 'REQUIRED'], ...outline.ssh.map((s) => [s.name, s.required ? 'true' : ''])]));
  return parts.join('\n');
}

/** The named stages, the last stage the default, as `--call=targets` lists them. */
export function formatTargets(parsed: ParsedDockerfile, json: boolean): string {
  const { stages } = stagesOf(parsed);
  const last = stages.length - 1;
  const targets = stages.flatMap((s, i) => (s.name || i === last ? [{ name: s.name ?? '', ...optional('description', s.description), ...(i === last ? { default: true } : {}) }] : []));
  if (json) return `${JSON.stringify({ targets }, null, 2)}\n`;
  return table([['TARGET', 'DESCRIPTION'], ...targets.map((t) => [`${t.name}${t.default ? ' (default)' : ''}`.trim(), t.description ?? ''])]);
}
