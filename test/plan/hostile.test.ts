/**
 * Dockerfiles written to hurt the parser and planner: nesting deep enough to overflow a recursive
 * descent, and sizes that expose work quadratic in the number of stages. Each must end in a
 * located BuildError or a plan, never in a RangeError with no line.
 */
import { describe, expect, it } from 'vitest';
import { BuildError, formatLocation } from '../../src/source/index.ts';
import { MAX_EXPANSION_DEPTH } from '../../src/shell/index.ts';
import { dumpNode, parseDockerfile } from '../../src/syntax/index.ts';
import { checkDockerfile } from '../../src/plan/check.ts';
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

/**
 * Planning must be linear in the number of stages. These are not timed assertions: each shape
 * overflowed the stack or took minutes before (a FROM chain of 5,000 stages and a COPY --from
 * chain of 1,000 overflowed; `check` of 1,000 chained stages took 9 s and grew with about the
 * cube, so 4,000 would take several minutes), and now takes well under a second, so the test
 * timeout (60 s here) is what would catch a return of the quadratic behaviour.
 */
describe('planning many stages', () => {
  const chain = (n: number, body = ''): string =>
    ['FROM scratch AS s0', ...Array.from({ length: n - 1 }, (_, i) => `FROM s${i} AS s${i + 1}${body}`)].join('\n') + '\n';

  it('plans a FROM chain of 5,000 stages', async () => {
    const p = await plan(chain(5000, '\nENV A=1'));
    expect(p.stages).toHaveLength(5000);
    expect(p.stages[4999].base).toEqual({ kind: 'stage', stage: 4998 });
    expect(p.stages[4999].config.Env).toContain('A=1');
  });

  it('plans a COPY --from chain of 5,000 stages', async () => {
    const lines = ['FROM scratch AS s0'];
    for (let i = 1; i < 5000; i++) lines.push(`FROM scratch AS s${i}`, `COPY --from=s${i - 1} /a /a`);
    const p = await plan(`${lines.join('\n')}\n`);
    expect(p.stages).toHaveLength(5000);
    expect(p.stages[4999].dependsOn).toEqual([4998]);
    expect(p.vertices.find((v) => v.id === 's4999/1')?.inputs).toEqual(['s4999/0', 's4998/1']);
  });

  it('plans one stage copying from 5,000 others, and 5,000 global ARGs', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 5000; i++) lines.push(`ARG a${i}=${i}`);
    for (let i = 0; i < 5000; i++) lines.push(`FROM scratch AS s${i}`, 'RUN x');
    lines.push('FROM scratch', 'ARG a4999');
    for (let i = 0; i < 5000; i++) lines.push(`COPY --from=s${i} /a /a${i}`);
    const p = await plan(`${lines.join('\n')}\n`);
    expect(p.stages).toHaveLength(5001);
    expect(p.vertices.at(-1)?.inputs).toEqual(['s5000/5000', 's4999/1']);
  });

  it('checks 4,000 chained stages, and still reports each broken stage', async () => {
    const text = chain(4000).replace('FROM s1999 AS s2000\n', 'FROM s1999 AS s2000\nWORKDIR ${a:?missing}\n');
    const errors = await checkDockerfile(parseDockerfile(text + 'FROM scratch AS other\nUSER ${b:?unset}\n', 'Dockerfile'));
    expect(errors.map((e) => `${formatLocation(e.range!)} ${e.message}`)).toEqual([
      'Dockerfile:2002:1 failed to process "${a:?missing}": a: missing',
      'Dockerfile:4003:1 failed to process "${b:?unset}": b: unset',
    ]);
  });
});
