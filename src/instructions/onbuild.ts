import type { InstructionNode } from '../syntax/ast.ts';
import { base, fail, type ParseContext } from './common.ts';
import { parseFlags } from './flags.ts';
import type { Instruction, OnbuildInstruction } from './types.ts';

/** ONBUILD wraps another instruction; `parseInner` is the dispatcher (passed in to avoid a cycle). */
export function parseOnbuild(
  node: InstructionNode,
  ctx: ParseContext,
  parseInner: (inner: InstructionNode, ctx: ParseContext) => Instruction,
): OnbuildInstruction {
  parseFlags(node, ctx.source);
  const inner = node.next;
  if (!inner) fail(node, ctx, 'ONBUILD requires at least one argument');
  if (inner.keyword === 'onbuild') fail(node, ctx, 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
  if (inner.keyword === 'from' || inner.keyword === 'maintainer') {
    fail(node, ctx, `${inner.keyword.toUpperCase()} isn't allowed as an ONBUILD trigger`);
  }
  // The image config stores the trigger as written after ONBUILD (Docker keeps the original text).
  const expression = node.original.replace(/^\s*onbuild\s+/i, '');
  return { kind: 'onbuild', ...base(node), trigger: parseInner(inner, ctx), expression };
}
