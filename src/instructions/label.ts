import type { InstructionNode } from '../syntax/ast.ts';
import { base, type ParseContext } from './common.ts';
import { keyValueTriples } from './env.ts';
import type { LabelInstruction } from './types.ts';

export function parseLabel(node: InstructionNode, ctx: ParseContext): LabelInstruction {
  return { kind: 'label', ...base(node), pairs: keyValueTriples(node, ctx) };
}
