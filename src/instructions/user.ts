import type { InstructionNode } from '../syntax/ast.ts';
import { base, requireExactlyOne, type ParseContext } from './common.ts';
import { parseFlags } from './flags.ts';
import type { UserInstruction } from './types.ts';

export function parseUser(node: InstructionNode, ctx: ParseContext): UserInstruction {
  parseFlags(node, ctx.source);
  return { kind: 'user', ...base(node), user: requireExactlyOne(node, ctx) };
}
