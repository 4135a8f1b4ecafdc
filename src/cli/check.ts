import type { Command } from 'commander';
import { BuildError, formatBuildError } from '../source/index.ts';
import { checkDockerfile } from '../plan/check.ts';
import { readDockerfile } from './dockerfile.ts';

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('parse and plan a Dockerfile and report every error found')
    .option('-f, --file <file>', 'Dockerfile to read (- for stdin)', 'Dockerfile')
    .action(async (opts: { file: string }) => {
      let errors: BuildError[];
      try {
        errors = await checkDockerfile(readDockerfile(opts.file).parsed);
      } catch (error) {
        if (!(error instanceof BuildError)) throw error;
        errors = [error];
      }
      for (const error of errors) process.stderr.write(`error: ${formatBuildError(error)}\n\n`);
      if (errors.length) {
        process.stderr.write(`${errors.length} error${errors.length > 1 ? 's' : ''} found\n`);
        process.exitCode = 1;
      } else process.stdout.write('no errors found\n');
    });
}
