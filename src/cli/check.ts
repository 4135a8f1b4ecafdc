import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { BuildError, formatBuildError } from '../source/index.ts';
import { checkDockerfile } from '../plan/check.ts';
import { parseBuildArgs } from '../plan/index.ts';
import { compileIgnore, findIgnoreFile, readIgnoreFile, type IgnoreMatcher } from '../context/dockerignore.ts';
import { openImageStore, resolveImage } from '../image/store.ts';
import { lintDockerfile, type BaseImageFacts, type BaseImageLookup, type LintResult } from '../lint/index.ts';
import { checkJson, formatCheck } from '../lint/report.ts';
import { readDockerfile } from './dockerfile.ts';
import { collect, storeRoot } from './store.ts';

interface CheckFlags { file?: string; buildArg: string[]; format: string }

/** The facts of base images already in the local store: a check never pulls. */
export function imageFacts(lookup: (ref: string) => Promise<{ config: import('../image/config.ts').ImageConfig } | undefined>): BaseImageLookup {
  const seen = new Map<string, Promise<BaseImageFacts | undefined>>();
  return (ref) => {
    let found = seen.get(ref);
    if (!found) {
      found = lookup(ref).then((image) => image && {
        env: image.config.config?.Env ?? [], shell: image.config.config?.Shell ?? [],
        os: image.config.os, architecture: image.config.architecture, variant: image.config.variant,
      }, () => undefined);
      seen.set(ref, found);
    }
    return found;
  };
}

function localLookup(command: Command): BaseImageLookup | undefined {
  const root = storeRoot(command);
  if (!existsSync(root)) return undefined;
  const images = openImageStore(root);
  return imageFacts((ref) => resolveImage(images, ref, { names: false }));
}

export async function contextIgnore(contextDir: string | undefined, dockerfilePath: string): Promise<IgnoreMatcher | undefined> {
  if (!contextDir) return undefined;
  const file = await findIgnoreFile(contextDir, dockerfilePath);
  if (!file) return undefined;
  try {
    return compileIgnore(readIgnoreFile(readFileSync(file, 'utf8')));
  } catch (error) {
    throw new BuildError(`${path.basename(file)}: ${(error as Error).message}`);
  }
}

export async function runCheck(contextArg: string | undefined, flags: CheckFlags, command: Command): Promise<void> {
  if (flags.format !== 'text' && flags.format !== 'json') throw new BuildError(`unknown --format "${flags.format}" (text or json)`);
  const contextDir = contextArg === undefined || contextArg === '-' ? undefined : path.resolve(contextArg);
  if (contextDir && !statSync(contextDir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new BuildError(`unable to prepare context: path "${contextArg}" not found`);
  }
  const { parsed, path: dockerfilePath } = readDockerfile(flags.file ?? (contextArg === '-' ? '-' : undefined), contextDir ?? '.');
  let errors: BuildError[];
  try {
    errors = await checkDockerfile(parsed);
  } catch (error) {
    if (!(error instanceof BuildError)) throw error;
    errors = [error];
  }
  let lint: LintResult = { warnings: [], config: { skipAll: true, skip: new Set(), experimentalAll: false, experimental: new Set(), error: false } };
  try {
    lint = await lintDockerfile(parsed, {
      buildArgs: parseBuildArgs(flags.buildArg), ignore: await contextIgnore(contextDir, dockerfilePath), lookup: localLookup(command),
    });
  } catch (error) {
    if (!(error instanceof BuildError)) throw error;
    errors.unshift(error);
  }
  if (lint.failure) errors.push(new BuildError(lint.failure));
  if (flags.format === 'json') {
    const first = errors[0];
    process.stdout.write(checkJson(lint.warnings, parsed.file, parsed.source, first && { message: first.message, line: first.range?.start.line }));
  } else {
    // With errors and no warnings, "no warnings found" would read as a clean result: the errors say it.
    if (lint.warnings.length || !errors.length) process.stdout.write(formatCheck(lint.warnings, parsed.file, parsed.source));
  }
  for (const error of errors) process.stderr.write(`error: ${formatBuildError(error)}\n\n`);
  if (errors.length) process.stderr.write(`${errors.length} error${errors.length > 1 ? 's' : ''} found\n`);
  // As BuildKit's lint result: status 1 when anything was found, warning or error.
  if (errors.length || lint.warnings.length) process.exitCode = 1;
}

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description("run BuildKit's build checks and plan every stage, reporting every warning and error (docker build --check)")
    .argument('[context]', 'build context directory (for .dockerignore); default: none, the Dockerfile is ./Dockerfile')
    .option('-f, --file <file>', 'Dockerfile to read (- for stdin)')
    .option('--build-arg <K=V>', 'set a build argument (BUILDKIT_DOCKERFILE_CHECK=... sets the check options)', collect, [])
    .option('--format <format>', 'text or json', 'text')
    .action((context: string | undefined, flags: CheckFlags, command: Command) => runCheck(context, flags, command));
}
