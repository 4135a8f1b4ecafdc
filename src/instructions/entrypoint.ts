import type { InstructionNode } from '../syntax/ast.ts';
import { base, commandForm, type ParseContext } from './common.ts';
import { parseFlags } from './flags.ts';
import type { EntrypointInstruction } from './types.ts';

export function parseEntrypoint(node: InstructionNode, ctx: ParseContext): EntrypointInstruction {
  parseFlags(node, ctx.source);
  return { kind: 'entrypoint', ...base(node), command: commandForm(node) };
}
