import type { InstructionNode } from '../syntax/ast.ts';
import { base, requireExactlyOne, type ParseContext } from './common.ts';
import { parseFlags } from './flags.ts';
import type { StopsignalInstruction } from './types.ts';

export function parseStopsignal(node: InstructionNode, ctx: ParseContext): StopsignalInstruction {
  parseFlags(node, ctx.source);
  return { kind: 'stopsignal', ...base(node), signal: requireExactlyOne(node, ctx) };
}
