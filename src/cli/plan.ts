import type { Command } from 'commander';
import { formatLocation } from '../source/index.ts';
import { parseBuildArgs, planBuild, type BuildPlan, type Op } from '../plan/index.ts';
import { readDockerfile } from './dockerfile.ts';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function describeOp(op: Op): string {
  switch (op.kind) {
    case 'source': return op.base.kind === 'scratch' ? 'FROM scratch' : op.base.kind === 'image' ? `FROM ${op.base.ref}` : `FROM stage ${op.base.stage}`;
    case 'run': return `RUN ${JSON.stringify(op.argv)}${op.mounts.length ? ` mounts=${op.mounts.map((m) => `${m.type}:${m.target}`).join(',')}` : ''}`;
    case 'copy': {
      const from = op.from.kind === 'context' ? '' : op.from.kind === 'stage' ? ` --from=stage ${op.from.stage}` : op.from.kind === 'dir' ? ` --from=context ${op.from.name}` : ` --from=${op.from.ref}`;
      return `${op.add ? 'ADD' : 'COPY'}${from} ${JSON.stringify(op.sources)} -> ${op.dest}`;
    }
    case 'workdir': return `MKDIR ${op.path}`;
    case 'metadata': return op.instruction.toUpperCase();
  }
}

export function formatPlanText(plan: BuildPlan): string {
  const lines: string[] = [];
  const byId = new Map(plan.vertices.map((v) => [v.id, v]));
  for (const stage of plan.stages) {
    const deps = stage.dependsOn.length ? ` needs ${stage.dependsOn.map((d) => `stage ${d}`).join(', ')}` : '';
    lines.push(`stage ${stage.index}${stage.name ? ` (${stage.name})` : ''}${deps}${stage.index === plan.target ? ' [target]' : ''}`);
    for (const id of stage.vertices) {
      const v = byId.get(id)!;
      const inputs = v.inputs.length ? ` <- ${v.inputs.join(', ')}` : '';
      lines.push(`  ${v.id.padEnd(7)} ${describeOp(v.op)}${inputs}  (${formatLocation(v.range)})`);
    }
  }
  for (const w of plan.warnings) lines.push(`warning: ${w.range ? `${formatLocation(w.range)}: ` : ''}${w.message}`);
  return `${lines.join('\n')}\n`;
}

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('print the build graph of a Dockerfile')
    .option('-f, --file <file>', 'Dockerfile to read (- for stdin)', 'Dockerfile')
    .option('--target <stage>', 'build only up to this stage')
    .option('--build-arg <K=V>', 'set a build argument', collect, [])
    .option('--format <format>', 'text or json', 'text')
    .action(async (opts: { file: string; target?: string; buildArg: string[]; format: string }) => {
      const { parsed } = readDockerfile(opts.file);
      const plan = await planBuild(parsed, { target: opts.target, buildArgs: parseBuildArgs(opts.buildArg) });
      if (opts.format === 'json') process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
      else if (opts.format === 'text') process.stdout.write(formatPlanText(plan));
      else throw new Error(`unknown format "${opts.format}" (text or json)`);
    });
}
