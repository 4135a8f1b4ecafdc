import type { InstructionNode } from '../syntax/ast.ts';
import { base, requireExactlyOne, type ParseContext } from './common.ts';
import { parseFlags } from './flags.ts';
import type { MaintainerInstruction } from './types.ts';

export function parseMaintainer(node: InstructionNode, ctx: ParseContext): MaintainerInstruction {
  parseFlags(node, ctx.source);
  return { kind: 'maintainer', ...base(node), name: requireExactlyOne(node, ctx) };
}
