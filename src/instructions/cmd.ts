import type { InstructionNode } from '../syntax/ast.ts';
import { base, commandForm, type ParseContext } from './common.ts';
import { parseFlags } from './flags.ts';
import type { CmdInstruction } from './types.ts';

export function parseCmd(node: InstructionNode, ctx: ParseContext): CmdInstruction {
  parseFlags(node, ctx.source);
  return { kind: 'cmd', ...base(node), command: commandForm(node) };
}
