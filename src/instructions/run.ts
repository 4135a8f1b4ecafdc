import type { InstructionNode } from '../syntax/ast.ts';
import { base, commandForm, fail, type ParseContext } from './common.ts';
import { parseFlags } from './flags.ts';
import type { RunInstruction } from './types.ts';

export function parseRun(node: InstructionNode, ctx: ParseContext): RunInstruction {
  const flags = parseFlags(node, ctx.source);
  if (node.args.length === 0 || (!node.json && node.args.join('').trim() === '')) {
    fail(node, ctx, 'RUN requires at least one argument');
  }
  const network = flags.strings.get('network');
  if (network && !['default', 'none', 'host'].includes(network.value)) {
    throw fail(node, ctx, `unsupported network mode "${network.value}" for RUN --network (default, none or host)`);
  }
  const security = flags.strings.get('security');
  if (security && !['sandbox', 'insecure'].includes(security.value)) {
    fail(node, ctx, `unsupported security mode "${security.value}" for RUN --security (sandbox or insecure)`);
  }
  return {
    kind: 'run', ...base(node), command: commandForm(node), heredocs: node.heredocs,
    mounts: flags.lists.get('mount') ?? [], network, security, devices: flags.lists.get('device') ?? [],
  };
}
