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

export { parseGoDuration } from '../text/units.ts';
