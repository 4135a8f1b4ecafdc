import type { InstructionNode } from '../syntax/ast.ts';
import { base, fail, type ParseContext } from './common.ts';
import { parseFlags } from './flags.ts';
import type { ShellInstruction } from './types.ts';

export function parseShell(node: InstructionNode, ctx: ParseContext): ShellInstruction {
  parseFlags(node, ctx.source);
  if (!node.json) fail(node, ctx, 'SHELL requires the arguments to be in JSON form');
  if (node.args.length === 0) fail(node, ctx, 'SHELL requires at least one argument');
  return { kind: 'shell', ...base(node), shell: [...node.args] };
}
