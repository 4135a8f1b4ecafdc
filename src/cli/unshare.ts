/**
 * `berth unshare [COMMAND...]`, as `podman unshare`: a command (a shell by default) inside the
 * user namespace rootless berth runs in (bin/berth entered it before Node started), where the
 * store's files owned by subordinate ids can be read, changed and removed. As root it just runs
 * the command.
 */
import { spawnSync } from 'node:child_process';
import type { Command } from 'commander';
import { BuildError } from '../source/index.ts';

function runInNamespace(args: string[]): void {
  const [command, ...rest] = args.length ? args : [process.env.SHELL || '/bin/sh'];
  const result = spawnSync(command, rest, { stdio: 'inherit' });
  if (result.error) throw new BuildError(`cannot run ${command}: ${result.error.message}`);
  process.exitCode = result.status ?? 128 + 9;
}

export function register(program: Command): void {
  program.command('unshare').description('run a command (default: a shell) in the user namespace rootless berth uses')
    .argument('[command...]')
    .passThroughOptions()
    .action((args: string[]) => runInNamespace(args));
}
