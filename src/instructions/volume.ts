import type { InstructionNode } from '../syntax/ast.ts';
import { base, fail, requireAtLeastOne, type ParseContext } from './common.ts';
import { parseFlags } from './flags.ts';
import type { VolumeInstruction } from './types.ts';

export function parseVolume(node: InstructionNode, ctx: ParseContext): VolumeInstruction {
  parseFlags(node, ctx.source);
  const paths = requireAtLeastOne(node, ctx);
  if (paths.some((p) => p.trim() === '')) fail(node, ctx, 'VOLUME specified can not be an empty string');
  return { kind: 'volume', ...base(node), paths: [...paths] };
}
