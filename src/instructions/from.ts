import type { InstructionNode } from '../syntax/ast.ts';
import { base, fail, type ParseContext } from './common.ts';
import { parseFlags } from './flags.ts';
import type { FromInstruction } from './types.ts';

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

export function parseFrom(node: InstructionNode, ctx: ParseContext): FromInstruction {
  const flags = parseFlags(node, ctx.source);
  const args = node.args;
  if (args.length !== 1 && args.length !== 3) fail(node, ctx, 'FROM requires either one or three arguments');
  let stageName: string | undefined;
  if (args.length === 3) {
    if (args[1].toLowerCase() !== 'as') fail(node, ctx, `FROM requires either one or three arguments; the second must be "AS", not "${args[1]}"`);
    stageName = args[2].toLowerCase();
    if (!STAGE_NAME.test(stageName)) fail(node, ctx, `invalid name for build stage: "${args[2]}", name can't start with a number or contain symbols`);
  }
  return { kind: 'from', ...base(node), image: args[0], stageName, platform: flags.strings.get('platform') };
}
