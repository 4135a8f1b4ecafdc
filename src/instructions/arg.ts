import type { InstructionNode } from '../syntax/ast.ts';
import { base, fail, type ParseContext } from './common.ts';
import { parseFlags } from './flags.ts';
import type { ArgDeclaration, ArgInstruction } from './types.ts';

/** `ARG name[=default] ...`: defaults stay unexpanded (the plan expands them in scope). */
export function parseArg(node: InstructionNode, ctx: ParseContext): ArgInstruction {
  parseFlags(node, ctx.source);
  if (node.args.length === 0) fail(node, ctx, 'ARG requires at least one argument');
  const args: ArgDeclaration[] = node.args.map((word) => {
    const eq = word.indexOf('=');
    const name = eq < 0 ? word : word.slice(0, eq);
    if (name === '') fail(node, ctx, `ARG names can not be blank`);
    return eq < 0 ? { name } : { name, defaultValue: word.slice(eq + 1) };
  });
  return { kind: 'arg', ...base(node), args };
}
