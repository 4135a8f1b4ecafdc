import type { InstructionNode } from '../syntax/ast.ts';
import { base, fail, keywordName, type ParseContext } from './common.ts';
import { parseFlags } from './flags.ts';
import type { EnvInstruction, KeyValue } from './types.ts';

/** The parser gives ENV and LABEL as (key, value, separator) triples; values are still quoted. */
export function keyValueTriples(node: InstructionNode, ctx: ParseContext): KeyValue[] {
  parseFlags(node, ctx.source);
  if (node.args.length === 0) fail(node, ctx, `${keywordName(node)} requires at least one argument`);
  if (node.args.length % 3 !== 0) fail(node, ctx, `${keywordName(node)} has malformed key/value pairs`);
  const pairs: KeyValue[] = [];
  for (let i = 0; i < node.args.length; i += 3) {
    if (node.args[i] === '') fail(node, ctx, `${keywordName(node)} names can not be blank`);
    pairs.push({ key: node.args[i], value: node.args[i + 1] });
  }
  return pairs;
}

export function parseEnv(node: InstructionNode, ctx: ParseContext): EnvInstruction {
  return { kind: 'env', ...base(node), pairs: keyValueTriples(node, ctx) };
}
