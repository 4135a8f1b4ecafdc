import type { InstructionNode } from '../syntax/ast.ts';
import { base, requireExactlyOne, type ParseContext } from './common.ts';
import { parseFlags } from './flags.ts';
import type { WorkdirInstruction } from './types.ts';

export function parseWorkdir(node: InstructionNode, ctx: ParseContext): WorkdirInstruction {
  parseFlags(node, ctx.source);
  return { kind: 'workdir', ...base(node), path: requireExactlyOne(node, ctx) };
}
