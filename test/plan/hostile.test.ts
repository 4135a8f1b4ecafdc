/**
 * Dockerfiles written to hurt the parser and planner: nesting deep enough to overflow a recursive
 * descent, and sizes that expose work quadratic in the number of stages. Each must end in a
 * located BuildError or a plan, never in a RangeError with no line.
 */
import { describe, expect, it } from 'vitest';
import { BuildError, formatLocation } from '../../src/source/index.ts';
import { MAX_EXPANSION_DEPTH } from '../../src/shell/index.ts';
import { dumpNode, parseDockerfile } from '../../src/syntax/index.ts';
import { planBuild, type BuildPlan } from '../../src/plan/index.ts';

async function plan(text: string): Promise<BuildPlan> {
  return planBuild(parseDockerfile(text, 'Dockerfile'));
}

async function planError(text: string): Promise<BuildError> {
  try {
    await plan(text);
  } catch (error) {
    if (!(error instanceof BuildError)) throw error;
    return error;
  }
  throw new Error('expected a BuildError');
}

const nested = (depth: number, inner = 'x', open = '${a:-', close = '}'): string =>
  open.repeat(depth) + inner + close.repeat(depth);

describe('deeply nested variable expansion', () => {
  it('nests as deep as the limit', async () => {
    const p = await plan(`FROM scratch\nENV b=${nested(MAX_EXPANSION_DEPTH)}\n`);
    expect(p.stages[0].config.Env).toContain('b=x');
  });

  it('is a located error past the limit, at the `${` that is one too deep', async () => {
    const error = await planError(`FROM scratch\nENV b=${nested(5000)}\n`);
    expect(error.message).toContain(`nested more than ${MAX_EXPANSION_DEPTH} levels deep`);
    // `ENV b=` is six columns; every level is five characters.
    expect(formatLocation(error.range!)).toBe(`Dockerfile:2:${7 + 5 * MAX_EXPANSION_DEPTH}`);
    expect(error.message.length).toBeLessThan(300);
  });

  it.each([
    ['FROM', `ARG a\nFROM ${nested(5000, 'scratch')}\n`, 2],
    ['COPY', `FROM scratch\nCOPY ${nested(5000)} /d\n`, 2],
    ['a heredoc body', `FROM scratch\nCOPY <<EOF /d\nline\n${nested(5000)}\nEOF\n`, 4],
    ['RUN --mount', `FROM scratch\nRUN --mount=type=cache,target=${nested(5000)} true\n`, 2],
    ['double quotes', `FROM scratch\nENV b="${nested(5000, 'x', '${a:-"', '"}')}"\n`, 2],
    ['${a/p/r}', `FROM scratch\nENV b=${nested(5000, 'x', '${a/', '/y}')}\n`, 2],
    ['a global ARG', `ARG b=${nested(5000)}\nFROM scratch\n`, 1],
    ['a continuation line', `FROM scratch\nENV c=1 \\\n  b=${nested(5000)}\n`, 3],
  ])('in %s', async (_what, text, line) => {
    const error = await planError(text);
    expect(error.message).toContain('levels deep');
    expect(error.range?.start.line).toBe(line);
    expect(error.range?.start.column).toBeGreaterThan(1);
  });
});

describe('deeply nested JSON and ONBUILD', () => {
  const cmd = async (args: string): Promise<string[] | null | undefined> => (await plan(`FROM scratch\nCMD ${args}\n`)).stages[0].config.Cmd;

  it.each([
    ['arrays', '['.repeat(5000) + ']'.repeat(5000)],
    ['objects', '[' + '{"a":'.repeat(5000) + '1' + '}'.repeat(5000) + ']'],
    ['arrays at Go\'s limit', '['.repeat(10000) + ']'.repeat(10000)],
  ])('well-formed nested %s are the not-strings error, located', async (_what, args) => {
    const error = await planError(`FROM scratch\nCMD ${args}\n`);
    expect(error.message).toContain('arrays must be comprised of strings only');
    expect(formatLocation(error.range!)).toBe('Dockerfile:2:1');
  });

  it('is the shell form when not JSON: unclosed, past Go\'s depth limit, or a number Go cannot hold', async () => {
    const unclosed = '['.repeat(5000);
    expect(await cmd(unclosed)).toEqual(['/bin/sh', '-c', unclosed]);
    const tooDeep = '['.repeat(10001) + ']'.repeat(10001);
    expect(await cmd(tooDeep)).toEqual(['/bin/sh', '-c', tooDeep]);
    const overflow = '[1e999, ' + '['.repeat(100) + ']'.repeat(100) + ']';
    expect(await cmd(overflow)).toEqual(['/bin/sh', '-c', overflow]);
    // Brackets inside strings do not count.
    const strings = JSON.stringify(['a', '['.repeat(5000)]);
    expect(await cmd(strings)).toEqual(['a', '['.repeat(5000)]);
  });

  it('ONBUILD chained 5,000 times is the chaining error, located', async () => {
    const parsed = parseDockerfile(`FROM scratch\n${'ONBUILD '.repeat(5000)}RUN true\n`, 'Dockerfile');
    expect(dumpNode(parsed.instructions[1])).toMatch(/^onbuild \(onbuild \(onbuild /);
    const error = await planError(`FROM scratch\n${'ONBUILD '.repeat(5000)}RUN true\n`);
    expect(error.message).toBe('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
    expect(formatLocation(error.range!)).toBe('Dockerfile:2:1');
  });
});
