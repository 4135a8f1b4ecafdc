import { BuildError, closest } from '../source/index.ts';
import type { InstructionNode, ParsedDockerfile } from '../syntax/ast.ts';
import { parseArg } from './arg.ts';
import { parseCmd } from './cmd.ts';
import type { ParseContext } from './common.ts';
import { parseCopyLike } from './copy.ts';
import { parseEntrypoint } from './entrypoint.ts';
import { parseEnv } from './env.ts';
import { parseExpose } from './expose.ts';
import { parseFrom } from './from.ts';
import { parseHealthcheck } from './healthcheck.ts';
import { parseLabel } from './label.ts';
import { parseMaintainer } from './maintainer.ts';
import { parseOnbuild } from './onbuild.ts';
import { parseRun } from './run.ts';
import { parseShell } from './shell.ts';
import { parseStopsignal } from './stopsignal.ts';
import type { Instruction } from './types.ts';
import { parseUser } from './user.ts';
import { parseVolume } from './volume.ts';
import { parseWorkdir } from './workdir.ts';

export type * from './types.ts';
export type { ParseContext } from './common.ts';
export { parseGoDuration } from './common.ts';

type Parser = (node: InstructionNode, ctx: ParseContext) => Instruction;

const PARSERS: Readonly<Record<string, Parser>> = {
  from: parseFrom, run: parseRun, cmd: parseCmd, entrypoint: parseEntrypoint, shell: parseShell,
  env: parseEnv, label: parseLabel, arg: parseArg, copy: parseCopyLike, add: parseCopyLike,
  maintainer: parseMaintainer, expose: parseExpose, volume: parseVolume, user: parseUser,
  workdir: parseWorkdir, stopsignal: parseStopsignal, healthcheck: parseHealthcheck,
  onbuild: (node, ctx) => parseOnbuild(node, ctx, parseInstruction),
};

export const KNOWN_INSTRUCTIONS = Object.keys(PARSERS).map((k) => k.toUpperCase());

/** One parser node to its typed instruction, or a BuildError pointing at it. */
export function parseInstruction(node: InstructionNode, ctx: ParseContext): Instruction {
  const parse = PARSERS[node.keyword];
  if (!parse) {
    const near = closest(node.keyword, KNOWN_INSTRUCTIONS);
    throw new BuildError(`unknown instruction: ${node.keywordAsWritten}`, node.keywordRange, {
      source: ctx.source,
      suggestion: near ? `did you mean ${near}?` : undefined,
    });
  }
  return parse(node, ctx);
}

/** Every instruction of a file; with `collect`, errors are gathered instead of thrown at the first. */
export function parseInstructions(parsed: ParsedDockerfile, errors?: BuildError[]): Instruction[] {
  const ctx: ParseContext = { source: parsed.source };
  const out: Instruction[] = [];
  for (const node of parsed.instructions) {
    try {
      out.push(parseInstruction(node, ctx));
    } catch (error) {
      if (!errors || !(error instanceof BuildError)) throw error;
      errors.push(error);
    }
  }
  return out;
}
