import { BuildError, formatLocation } from '../source/index.ts';
import { parseInstructions } from '../instructions/index.ts';
import type { ParsedDockerfile } from '../syntax/ast.ts';
import { planBuild } from './planner.ts';

/**
 * Every error of a Dockerfile rather than the first: instruction errors are collected line by line,
 * then each stage is planned as its own target so that one broken stage does not hide another.
 */
export async function checkDockerfile(parsed: ParsedDockerfile): Promise<BuildError[]> {
  const errors: BuildError[] = [];
  const instructions = parseInstructions(parsed, errors);
  if (errors.length) return errors;
  const names = instructions.filter((i) => i.kind === 'from').map((i, n) => (i.kind === 'from' && i.stageName) || String(n));
  const seen = new Set<string>();
  const targets = names.length ? names : [undefined];
  for (const target of targets) {
    try {
      await planBuild(parsed, { target: target && /^\d+$/.test(target) ? undefined : target });
    } catch (error) {
      if (!(error instanceof BuildError)) throw error;
      const key = `${error.range ? formatLocation(error.range) : ''} ${error.message}`;
      if (!seen.has(key)) {
        seen.add(key);
        errors.push(error);
      }
    }
  }
  return errors;
}
