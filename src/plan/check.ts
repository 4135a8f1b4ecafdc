import { BuildError, formatLocation } from '../source/index.ts';
import { parseInstructions } from '../instructions/index.ts';
import type { ParsedDockerfile } from '../syntax/ast.ts';
import { planEveryStage } from './planner.ts';

/**
 * Every error of a Dockerfile rather than the first: instruction errors are collected line by line,
 * then every stage is planned, so that one broken stage does not hide another.
 */
export async function checkDockerfile(parsed: ParsedDockerfile): Promise<BuildError[]> {
  const errors: BuildError[] = [];
  parseInstructions(parsed, errors);
  if (errors.length) return errors;
  let found: BuildError[];
  try {
    found = await planEveryStage(parsed);
  } catch (error) {
    if (!(error instanceof BuildError)) throw error;
    found = [error];
  }
  // A stage that fails because a stage it needs failed repeats that error: report it once.
  const seen = new Set<string>();
  for (const error of found) {
    const key = `${error.range ? formatLocation(error.range) : ''} ${error.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      errors.push(error);
    }
  }
  return errors;
}
