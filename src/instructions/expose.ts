import type { InstructionNode } from '../syntax/ast.ts';
import { base, requireAtLeastOne, type ParseContext } from './common.ts';
import { parseFlags } from './flags.ts';
import type { ExposeInstruction } from './types.ts';

export function parseExpose(node: InstructionNode, ctx: ParseContext): ExposeInstruction {
  parseFlags(node, ctx.source);
  return { kind: 'expose', ...base(node), ports: [...requireAtLeastOne(node, ctx)] };
}
