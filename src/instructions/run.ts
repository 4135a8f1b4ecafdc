import { BuildError } from '../source/index.ts';
import type { InstructionNode } from '../syntax/ast.ts';
import { base, commandForm, fail, type ParseContext } from './common.ts';
import { parseFlags } from './flags.ts';
import type { RunInstruction } from './types.ts';

const MOUNT_TYPES = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];

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
  // The mount type is checked where Docker checks it, at parse time, so a mistake in a stage the
  // target does not need is still an error (the other options are read when the stage is planned).
  const mounts = flags.lists.get('mount') ?? [];
  for (const mount of mounts) {
    const type = /(?:^|,)type=([^,]*)/.exec(mount.value)?.[1];
    if (type !== undefined && !type.includes('$') && !MOUNT_TYPES.includes(type)) {
      throw new BuildError(`unsupported mount type "${type}"`, mount.range, { source: ctx.source });
    }
  }
  return {
    kind: 'run', ...base(node), command: commandForm(node), heredocs: node.heredocs,
    mounts, network, security, devices: flags.lists.get('device') ?? [],
  };
}
