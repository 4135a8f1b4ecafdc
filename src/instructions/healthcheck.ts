import type { InstructionNode } from '../syntax/ast.ts';
import { base, commandForm, fail, parseGoDuration, type ParseContext } from './common.ts';
import { parseFlags, type FlagValue } from './flags.ts';
import type { HealthcheckInstruction, HealthcheckOptions } from './types.ts';

const MIN_DURATION_NS = 1e6;

function duration(node: InstructionNode, ctx: ParseContext, flag: FlagValue | undefined, label: string): number | undefined {
  if (!flag) return undefined;
  const ns = parseGoDuration(flag.value);
  if (ns === undefined) fail(node, ctx, `time: invalid duration "${flag.value}" for --${flag.name}`);
  if (ns === 0) return undefined;
  if (ns < MIN_DURATION_NS) fail(node, ctx, `${label} "${flag.name}" cannot be less than 1ms`);
  return ns;
}

export function parseHealthcheck(node: InstructionNode, ctx: ParseContext): HealthcheckInstruction {
  const flags = parseFlags(node, ctx.source);
  if (node.args.length === 0) fail(node, ctx, 'HEALTHCHECK requires at least one argument');
  const type = node.args[0].toUpperCase();
  if (type === 'NONE') {
    if (node.args.length > 1) fail(node, ctx, 'HEALTHCHECK NONE takes no arguments');
    return { kind: 'healthcheck', ...base(node), test: 'none' };
  }
  if (type !== 'CMD') fail(node, ctx, `unknown type "${node.args[0]}" in HEALTHCHECK (try CMD)`);
  const rest = node.args.slice(1);
  if (rest.length === 0 || (!node.json && rest.join('').trim() === '')) fail(node, ctx, 'missing command after HEALTHCHECK CMD');
  const options: HealthcheckOptions = {
    interval: duration(node, ctx, flags.strings.get('interval'), 'Interval'),
    timeout: duration(node, ctx, flags.strings.get('timeout'), 'Timeout'),
    startPeriod: duration(node, ctx, flags.strings.get('start-period'), 'StartPeriod'),
    startInterval: duration(node, ctx, flags.strings.get('start-interval'), 'StartInterval'),
  };
  const retries = flags.strings.get('retries');
  if (retries) {
    if (!/^-?\d+$/.test(retries.value)) fail(node, ctx, `invalid value for --retries: ${retries.value}`);
    const n = Number(retries.value);
    if (n < 0) fail(node, ctx, '--retries cannot be negative');
    if (n > 0) options.retries = n;
  }
  return { kind: 'healthcheck', ...base(node), test: 'cmd', command: commandForm(node, rest), options };
}
