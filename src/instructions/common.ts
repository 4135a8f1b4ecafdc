import { BuildError } from '../source/index.ts';
import type { InstructionNode } from '../syntax/ast.ts';
import type { CommandForm } from './types.ts';

/** What every instruction parser receives besides its node. */
export interface ParseContext {
  /** The Dockerfile text, for code frames in errors. */
  source: string;
}

export function fail(node: InstructionNode, ctx: ParseContext, message: string, suggestion?: string): never {
  throw new BuildError(message, node.range, { source: ctx.source, suggestion });
}

export function base(node: InstructionNode): { range: InstructionNode['range']; original: string } {
  return { range: node.range, original: node.original };
}

export function keywordName(node: InstructionNode): string {
  return node.keyword.toUpperCase();
}

export function requireExactlyOne(node: InstructionNode, ctx: ParseContext): string {
  if (node.args.length !== 1 || node.args[0] === '') fail(node, ctx, `${keywordName(node)} requires exactly one argument`);
  return node.args[0];
}

export function requireAtLeastOne(node: InstructionNode, ctx: ParseContext): string[] {
  if (node.args.length === 0 || (node.args.length === 1 && node.args[0] === '' && !node.json)) {
    fail(node, ctx, `${keywordName(node)} requires at least one argument`);
  }
  return node.args;
}

/** Exec form when the parser saw a JSON array, shell form (one string) otherwise. */
export function commandForm(node: InstructionNode, args: string[] = node.args): CommandForm {
  if (node.json) return { form: 'exec', argv: [...args] };
  return { form: 'shell', script: args.join(' ') };
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9,
};

/** Go's time.ParseDuration, in nanoseconds; undefined when malformed. */
export function parseGoDuration(text: string): number | undefined {
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') return undefined;
  let total = 0;
  const part = /^(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest !== '') {
    const m = part.exec(rest);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    rest = rest.slice(m[0].length);
  }
  return sign * Math.round(total);
}
