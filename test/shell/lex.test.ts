/**
 * BuildKit's own shell lexer tables (../shared/corpus/buildkit-shell), read exactly as the Go tests
 * read them: envVarTest (TestShellParser4EnvVars), wordsTest (TestShellParser4Words) and the
 * transcribed TestProcessWithMatches / platform / mandatory-variable tables; then the behaviour
 * the tables leave open (backtick escape, options for later passes, Go regexp semantics inside
 * patterns, error messages).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandWord, expandWords, expandWordWithMatches, MAX_EXPANSION_DEPTH, ShellExpansionError } from '../../src/shell/index.ts';

const corpus = path.resolve(import.meta.dirname, '../../../shared/corpus/buildkit-shell');

// Go's strings.TrimSpace, without JavaScript's extra U+FEFF.
function goTrim(s: string): string {
  return s.replace(/^[\t\n\v\f\r \u0085\u00a0]+|[\t\n\v\f\r \u0085\u00a0]+$/g, '');
}

interface EnvVarCase { line: number; platform: string; input: string; expected: string }

function envVarCases(): EnvVarCase[] {
  const cases: EnvVarCase[] = [];
  readFileSync(path.join(corpus, 'envVarTest'), 'utf8').split('\n').forEach((raw, index) => {
    if (raw.startsWith('#')) return;
    const line = goTrim(raw);
    if (line === '') return;
    const fields = line.split('|');
    if (fields.length !== 3) throw new Error(`envVarTest:${index + 1}: expected 3 fields`);
    const [platform, input, expected] = fields.map(goTrim);
    if (!['A', 'U', 'W'].includes(platform)) throw new Error(`envVarTest:${index + 1}: bad platform ${platform}`);
    cases.push({ line: index + 1, platform, input, expected });
  });
  return cases;
}

describe('envVarTest (ProcessWord)', () => {
  const env = new Map([['PWD', '/home'], ['SHELL', 'bash'], ['KOREAN', '한국어'], ['NULL', '']]);
  const cases = envVarCases().filter((c) => c.platform !== 'W');

  it('has the expected number of non-Windows cases', () => {
    expect(cases.length).toBe(228);
  });

  for (const c of cases) {
    it(`line ${c.line}: ${c.input}`, () => {
      if (c.expected === 'error') {
        expect(() => expandWord(c.input, env)).toThrow(ShellExpansionError);
      } else {
        expect(expandWord(c.input, env)).toBe(c.expected);
      }
    });
  }
});

describe('wordsTest (ProcessWords)', () => {
  const env = new Map<string, string>();
  const steps: { line: number; input: string; expected: string[]; env: Map<string, string> }[] = [];
  readFileSync(path.join(corpus, 'wordsTest'), 'utf8').split('\n').forEach((line, index) => {
    if (line === '' && index > 0) return; // the file's final newline
    if (line.startsWith('#')) return;
    if (line.startsWith('ENV ')) {
      const assignment = line.slice(3).replace(/^ +/, '');
      const eq = assignment.indexOf('=');
      env.set(assignment.slice(0, eq), assignment.slice(eq + 1));
      return;
    }
    const parts = line.split('|');
    if (parts.length !== 2) throw new Error(`wordsTest:${index + 1}: expected exactly one |`);
    steps.push({ line: index + 1, input: goTrim(parts[0]), expected: parts[1].replace(/^ +/, '').split(','), env: new Map(env) });
  });

  it('reads all 24 cases', () => {
    expect(steps.length).toBe(24);
  });

  for (const s of steps) {
    it(`line ${s.line}: ${s.input}`, () => {
      let result: string[];
      try {
        result = expandWords(s.input, s.env);
      } catch (error) {
        expect(error).toBeInstanceOf(ShellExpansionError);
        result = ['error'];
      }
      expect(result).toEqual(s.expected);
    });
  }
});

interface MatchCase {
  input: string;
  envs: Record<string, string>;
  expected: string | null;
  expectedErr: boolean;
  matches: string[] | null;
  unmatched: string[] | null;
}

describe('process-with-matches.json (ProcessWordWithMatches)', () => {
  const data = JSON.parse(readFileSync(path.join(corpus, 'process-with-matches.json'), 'utf8')) as {
    cases: MatchCase[];
    platform_release_example: { input: string; runs: { envs: Record<string, string>; expected: string }[] };
    mandatory_env_vars: { runs: { input: string; envs: string[]; expected?: string; error_contains?: string }[] };
  };

  it('has all 47 cases', () => {
    expect(data.cases.length).toBe(47);
    expect(data.cases.filter((c) => c.expectedErr).length).toBe(13);
  });

  data.cases.forEach((c, index) => {
    it(`#${index}: ${c.input} ${JSON.stringify(c.envs)}`, () => {
      const env = new Map(Object.entries(c.envs));
      if (c.expectedErr) {
        expect(() => expandWordWithMatches(c.input, env)).toThrow(ShellExpansionError);
        return;
      }
      const got = expandWordWithMatches(c.input, env);
      expect(got.result).toBe(c.expected);
      expect([...got.matched].sort()).toEqual([...(c.matches ?? [])].sort());
      expect([...got.unmatched].sort()).toEqual([...(c.unmatched ?? [])].sort());
    });
  });

  data.platform_release_example.runs.forEach((run, index) => {
    it(`platform release example #${index}`, () => {
      expect(expandWordWithMatches(data.platform_release_example.input, new Map(Object.entries(run.envs))).result).toBe(run.expected);
    });
  });

  data.mandatory_env_vars.runs.forEach((run, index) => {
    it(`mandatory variables #${index}: ${run.input} ${run.envs.join(' ')}`, () => {
      const env = new Map<string, string>();
      for (const e of run.envs) {
        const eq = e.indexOf('=');
        env.set(eq < 0 ? e : e.slice(0, eq), eq < 0 ? '' : e.slice(eq + 1));
      }
      if (run.error_contains !== undefined) {
        expect(() => expandWord(run.input, env)).toThrow(run.error_contains);
      } else {
        expect(expandWord(run.input, env)).toBe(run.expected);
      }
    });
  });
});

const env = (entries: Record<string, string>) => new Map(Object.entries(entries));

describe('escape character', () => {
  it('uses the backtick when asked and leaves backslashes alone', () => {
    expect(expandWord('C:\\dir\\$V', env({ V: 'x' }), { escape: '`' })).toBe('C:\\dir\\x');
    expect(expandWord('a`$V', env({ V: 'x' }), { escape: '`' })).toBe('a$V');
    expect(expandWord('"a`"b"', env({}), { escape: '`' })).toBe('a"b');
    expect(expandWord('"a\\b"', env({}), { escape: '`' })).toBe('a\\b');
  });
});

describe('options for later passes', () => {
  it('skipUnsetEnv keeps unset references as written', () => {
    const got = expandWord('$A ${B} ${C:-x} ${D/a/b} ${E//a/b} ${F:=y} $G', env({ G: 'g' }), { skipUnsetEnv: true });
    // BuildKit writes `${E/a/b}` back with a single slash.
    expect(got).toBe('$A ${B} ${C:-x} ${D/a/b} ${E/a/b} ${F:=y} g');
  });

  it('rawQuotes keeps the quotes', () => {
    expect(expandWord(`'a' "b$V"`, env({ V: 'v' }), { rawQuotes: true })).toBe(`'a' "bv"`);
  });

  it('reports matched and unmatched names, including nested ones', () => {
    const got = expandWordWithMatches('${A:-$B}${C+$D}', env({ C: '1', D: '2' }));
    expect(got.result).toBe('2');
    expect([...got.matched].sort()).toEqual(['C', 'D']);
    expect([...got.unmatched].sort()).toEqual(['A', 'B']);
  });
});

describe('patterns follow Go regexp semantics', () => {
  it('stars and question marks do not cross a newline', () => {
    expect(expandWord('${V##*}', env({ V: 'a\nb' }))).toBe('\nb');
    expect(expandWord('${V%%*}', env({ V: 'a\nb' }))).toBe('a\n');
  });

  it('replaces all like ReplaceAllString, empty matches included', () => {
    expect(expandWord('${V//*/x}', env({ V: 'abc' }))).toBe('x');
    expect(expandWord('${V//$E/-}', env({ V: 'ab', E: '' }))).toBe('-a-b-');
    expect(expandWord('${V/$E/-}', env({ V: 'ab', E: '' }))).toBe('-ab');
  });

  it('expands $0 and $$ in an all-replacement but not in a single one', () => {
    expect(expandWord('${V//o/$R}', env({ V: 'foo', R: '<$0>' }))).toBe('f<o><o>');
    expect(expandWord('${V//o/$R}', env({ V: 'foo', R: '$$' }))).toBe('f$$');
    expect(expandWord('${V//o/$R}', env({ V: 'foo', R: '$1.' }))).toBe('f..');
    expect(expandWord('${V/o/$R}', env({ V: 'foo', R: '<$0>' }))).toBe('f<$0>o');
  });

  it('has no bracket expressions', () => {
    expect(expandWord('${V#[ab]}', env({ V: '[ab]c' }))).toBe('c');
    expect(expandWord('${V#[ab]}', env({ V: 'ac' }))).toBe('ac');
  });

  it('works on code points', () => {
    expect(expandWord('${V#?}', env({ V: '😀x' }))).toBe('x');
    expect(expandWord('${V%?}', env({ V: 'x😀' }))).toBe('x');
  });
});

describe('words', () => {
  it('splits on unquoted white space only', () => {
    expect(expandWords('a "" b', env({}))).toEqual(['a', 'b']);
    expect(expandWords('""', env({}))).toEqual([]);
    expect(expandWords('x${S}y', env({ S: ' 1  2 ' }))).toEqual(['x', '1', '2', 'y']);
    expect(expandWords('a\\ b "c d"', env({}))).toEqual(['a b', 'c d']);
  });
});

describe('errors', () => {
  it('wraps the reason like BuildKit', () => {
    expect(() => expandWord('${X:?oops}', env({}))).toThrow('failed to process "${X:?oops}": X: oops');
    expect(() => expandWord('${X?}', env({}))).toThrow('X: is not allowed to be unset');
    expect(() => expandWord('${X:?}', env({ X: '' }))).toThrow('X: is not allowed to be empty');
    expect(() => expandWord('${V#\\a}', env({ V: 'x' }))).toThrow("invalid pattern (\\a) in substitution: invalid escape '\\a'");
    expect(() => expandWord('${X:=y}', env({}))).toThrow('unsupported modifier (:=) in substitution');
    expect(() => expandWord('${X:#y}', env({}))).toThrow('unsupported modifier (:#) in substitution');
    expect(() => expandWord('"a\tb', env({}))).toThrow('failed to process "\\"a\\tb": unexpected end of statement while looking for matching double-quote');
  });

  it('exposes the word and the reason', () => {
    try {
      expandWord('${}', env({}));
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ShellExpansionError);
      expect((error as ShellExpansionError).word).toBe('${}');
      expect((error as ShellExpansionError).reason).toBe('syntax error: bad substitution');
    }
  });
});

describe('nesting depth', () => {
  it('stops at MAX_EXPANSION_DEPTH with the offset of the `${` one level too deep', () => {
    const env = new Map([['a', '']]);
    const ok = '${a:-'.repeat(MAX_EXPANSION_DEPTH) + 'x' + '}'.repeat(MAX_EXPANSION_DEPTH);
    expect(expandWord(ok, env)).toBe('x');
    const word = 'pre' + '${a:-'.repeat(MAX_EXPANSION_DEPTH + 1) + 'x' + '}'.repeat(MAX_EXPANSION_DEPTH + 1);
    let caught: unknown;
    try {
      expandWords(word, env);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ShellExpansionError);
    expect((caught as ShellExpansionError).offset).toBe(3 + 5 * MAX_EXPANSION_DEPTH);
    expect((caught as ShellExpansionError).message).toMatch(/^failed to process "pre\$\{a:-.*\.\.\.": variable expansions nested more than 100 levels deep$/);
  });

  it('is not fooled by a missing brace at the end of a too deep word', () => {
    expect(() => expandWord('${a:-'.repeat(20000), new Map())).toThrow(/levels deep/);
  });
});

describe('pattern matching cost', () => {
  // A backtracking regexp took C(40, k) steps here: 65 s for k = 12 in ${x#...}, 4 s for k = 8
  // in ${x//...}, so each case below would run for minutes to centuries; it is instant now.
  const x = 'a'.repeat(40);
  const stars = (k: number): string => '*a'.repeat(k);

  it('does not backtrack in ${x#p}, ${x%p}, ${x/p/r} and ${x//p/r}', () => {
    const v = env({ x });
    expect(expandWord('${x#' + stars(30) + 'b}', v)).toBe(x);
    expect(expandWord('${x##' + stars(30) + 'b}', v)).toBe(x);
    expect(expandWord('${x%b' + stars(30) + '}', v)).toBe(x);
    expect(expandWord('${x%%b' + stars(30) + '}', v)).toBe(x);
    expect(expandWord('${x/' + stars(30) + 'b/c}', v)).toBe(x);
    expect(expandWord('${x//' + stars(30) + 'b/c}', v)).toBe(x);
  });

  it('still finds the shortest and longest matches', () => {
    const v = env({ x: `${x}b${x}b` });
    expect(expandWord('${x#' + stars(30) + 'b}', v)).toBe(`${x}b`);
    expect(expandWord('${x##' + stars(30) + 'b}', v)).toBe('');
    expect(expandWord('${x/' + stars(30) + 'b/c}', v)).toBe('c');
    expect(expandWord('${x//a?a/-}', env({ x: 'aXaaYaZ' }))).toBe('--Z');
    expect(expandWord('${x//?/-}', env({ x: 'a\nb' }))).toBe('-\n-');
  });
});
