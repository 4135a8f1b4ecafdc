import { BuildError, closest, type SourceRange } from '../source/index.ts';
import type { InstructionNode } from '../syntax/ast.ts';

/** How one flag of an instruction is read: BuildKit's BFlags kinds. */
export type FlagKind = 'string' | 'bool' | 'strings';

export type FlagSpec = Readonly<Record<string, FlagKind>>;

/** One flag occurrence as written, with where it was. */
export interface FlagValue {
  name: string;
  value: string;
  range: SourceRange;
}

export interface ParsedFlags {
  strings: Map<string, FlagValue>;
  bools: Map<string, boolean>;
  lists: Map<string, FlagValue[]>;
}

/** The flags each instruction accepts; every other instruction takes none. */
export const FLAGS_BY_INSTRUCTION: Readonly<Record<string, FlagSpec>> = {
  from: { platform: 'string' },
  run: { mount: 'strings', network: 'string', security: 'string', device: 'strings' },
  copy: { from: 'string', chown: 'string', chmod: 'string', link: 'bool', parents: 'bool', exclude: 'strings' },
  add: {
    chown: 'string', chmod: 'string', link: 'bool', checksum: 'string', 'keep-git-dir': 'bool',
    unpack: 'bool', exclude: 'strings',
  },
  healthcheck: { interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string' },
};

/**
 * Reads `--name=value` / `--name` words against an instruction's spec, with BuildKit's rules:
 * unknown flags and duplicates are errors, string flags need a value, bool flags take an optional
 * true/false.
 */
const NO_FLAGS: ParsedFlags = Object.freeze({ strings: new Map(), bools: new Map(), lists: new Map() }) as ParsedFlags;

export function parseFlags(node: InstructionNode, source?: string): ParsedFlags {
  // Most instructions carry no flags: share one empty (never mutated) result.
  if (node.flags.length === 0) return NO_FLAGS;
  const spec = FLAGS_BY_INSTRUCTION[node.keyword] ?? {};
  const parsed: ParsedFlags = { strings: new Map(), bools: new Map(), lists: new Map() };
  const seen = new Set<string>();
  node.flags.forEach((word, i) => {
    const range = node.flagRanges[i] ?? node.keywordRange;
    const body = word.replace(/^--/, '');
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const value = eq < 0 ? undefined : body.slice(eq + 1);
    const kind = spec[name];
    const fail = (message: string, suggestion?: string): never => {
      throw new BuildError(message, range, { suggestion, source });
    };
    if (kind === undefined) {
      const near = closest(name, Object.keys(spec));
      fail(`unknown flag --${name} for ${node.keyword.toUpperCase()}`, near ? `did you mean --${near}?` : undefined);
    }
    if (kind !== 'strings' && seen.has(name)) fail(`duplicate flag specified: --${name}`);
    seen.add(name);
    if (kind === 'bool') {
      if (value === undefined || value.toLowerCase() === 'true') parsed.bools.set(name, true);
      else if (value.toLowerCase() === 'false') parsed.bools.set(name, false);
      else fail(`expecting boolean value for flag --${name}, not: ${value}`);
      return;
    }
    if (value === undefined) fail(`missing a value on flag: --${name}`);
    const flag: FlagValue = { name, value: value ?? '', range };
    if (kind === 'string') parsed.strings.set(name, flag);
    else parsed.lists.set(name, [...(parsed.lists.get(name) ?? []), flag]);
  });
  return parsed;
}
