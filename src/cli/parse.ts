import type { Command } from 'commander';
import { parseInstructions } from '../instructions/index.ts';
import { dumpDockerfile } from '../syntax/index.ts';
import { readDockerfile } from './dockerfile.ts';

export function registerParse(program: Command): void {
  program
    .command('parse')
    .description('parse a Dockerfile and print its syntax tree')
    .option('-f, --file <file>', 'Dockerfile to read (- for stdin)', 'Dockerfile')
    .option('--format <format>', 'dump (BuildKit AST dump) or json (typed instructions)', 'dump')
    .action((opts: { file: string; format: string }) => {
      const { parsed } = readDockerfile(opts.file);
      if (opts.format === 'dump') process.stdout.write(dumpDockerfile(parsed));
      else if (opts.format === 'json') process.stdout.write(`${JSON.stringify(parseInstructions(parsed), null, 2)}\n`);
      else throw new Error(`unknown format "${opts.format}" (dump or json)`);
    });
}
