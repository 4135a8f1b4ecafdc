/**
 * Build checks (BuildKit's Dockerfile linter): `lintDockerfile` runs every rule over a parsed
 * Dockerfile and returns the warnings in the order BuildKit reports them, after the `check=`
 * options (directive or BUILDKIT_DOCKERFILE_CHECK) have picked which rules run.
 */
import { BuildError } from '../source/index.ts';
import { parseInstructions, type ArgInstruction, type FromInstruction, type Instruction } from '../instructions/index.ts';
import type { InstructionNode, ParsedDockerfile } from '../syntax/ast.ts';
import type { IgnoreMatcher } from '../context/dockerignore.ts';
import { platformArgs, TARGET_PLATFORM } from '../plan/args.ts';
import { CHECK_BUILD_ARG, createLinter, lintFailure, parseCheckOptions, type LintConfig, type LintWarning } from './config.ts';
import { lintFroms } from './from.ts';
import { lintStages, type BaseImageLookup } from './stages.ts';
import { lintSyntax } from './syntax.ts';

export type { LintWarning, LintConfig } from './config.ts';
export type { BaseImageFacts, BaseImageLookup } from './stages.ts';
export { CHECK_BUILD_ARG, parseCheckOptions } from './config.ts';
export { RULES, MESSAGES } from './rules.ts';

export interface LintOptions {
  /** `--build-arg` values; BUILDKIT_DOCKERFILE_CHECK among them replaces the `check=` directive. */
  buildArgs?: ReadonlyMap<string, string>;
  /** The build context's .dockerignore, for CopyIgnoredFile. */
  ignore?: IgnoreMatcher;
  /** Base image ENV, SHELL and platform (UndefinedVar, JSONArgsRecommended, InvalidBaseImagePlatform). */
  lookup?: BaseImageLookup;
  /** Stage indices a build dispatches; the dispatch-time rules skip the others. All when absent. */
  reachable?: ReadonlySet<number>;
}

export interface LintResult {
  warnings: LintWarning[];
  config: LintConfig;
  /** With `error=true` and warnings: BuildKit's "lint violation found for rules: ..." */
  failure?: string;
}

/** The lint configuration of a build: the build arg wins over the directive, as in BuildKit. */
export function lintConfigFor(parsed: ParsedDockerfile, buildArgs?: ReadonlyMap<string, string>): LintConfig {
  const text = buildArgs?.get(CHECK_BUILD_ARG) ?? parsed.directives.check;
  try {
    return parseCheckOptions(text);
  } catch (error) {
    throw new BuildError(`failed to parse check options: ${(error as Error).message}`);
  }
}

function splitStages(instructions: Instruction[], nodes: InstructionNode[]) {
  const globals: ArgInstruction[] = [];
  const froms: FromInstruction[] = [];
  const bodies: Array<Array<[Instruction, InstructionNode]>> = [];
  instructions.forEach((ins, i) => {
    if (ins.kind === 'from') {
      froms.push(ins);
      bodies.push([]);
    } else if (froms.length > 0) bodies[bodies.length - 1].push([ins, nodes[i]]);
    else if (ins.kind === 'arg') globals.push(ins);
  });
  return { globals, froms, bodies };
}

export async function lintDockerfile(parsed: ParsedDockerfile, options: LintOptions = {}): Promise<LintResult> {
  const config = lintConfigFor(parsed, options.buildArgs);
  const linter = createLinter(config);
  lintSyntax(parsed, linter);
  const errors: BuildError[] = [];
  const instructions = parseInstructions(parsed, errors);
  // An instruction that does not parse is an error the check reports; the rules that need the
  // instructions' meaning stop there, as BuildKit's do.
  if (errors.length === 0 && instructions.length === parsed.instructions.length) {
    const buildArgs = new Map(options.buildArgs ?? []);
    buildArgs.delete(CHECK_BUILD_ARG);
    const shell = { escape: parsed.directives.escape };
    const { globals, froms, bodies } = splitStages(instructions, parsed.instructions);
    const walked = lintFroms(froms, globals, platformArgs(), buildArgs, linter, shell);
    if (walked) {
      await lintStages(walked.stages, bodies, linter, {
        shell, globalEnv: walked.globalEnv, buildArgs, ignore: options.ignore, lookup: options.lookup,
        reachable: options.reachable, targetPlatform: TARGET_PLATFORM,
      });
    }
  }
  const failure = lintFailure(config, linter.warnings);
  return { warnings: linter.warnings, config, ...(failure ? { failure } : {}) };
}
