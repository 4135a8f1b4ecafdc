/**
 * The corpus tables for the build context (../shared/corpus/dockerignore):
 *  - moby/patternmatcher's own tables (cases.json): every match, New(), compile and ReadAll case;
 *  - the @balena/dockerignore table, an outside JS port of Docker's rules. Where it disagrees with
 *    Docker we assert Docker's answer: `[CASE-INSENSITIVE]` assumes case-insensitive matching
 *    (Docker is case-sensitive); `a\ ` trims to `a\`, which moby rejects as a bad pattern (balena
 *    expects "not ignored"); the empty path is not a path (balena's "invalid empty paths, just
 *    ignore"), Docker never asks about it;
 *  - Go's filepath.Match table as moby carries it. moby runs it through Matches, with parent
 *    directory matching; filepath.Match alone differs only where a parent directory would match,
 *    so that row is corrected.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BadPatternError,
  compileIgnore,
  compileIgnorePattern,
  globMatch,
  IgnorePatternError,
  readIgnoreFile,
} from '../../src/context/index.ts';
import { goClean } from '../../src/context/dockerignore.ts';

const corpus = path.resolve(import.meta.dirname, '../../../shared/corpus/dockerignore');

interface MatchCase {
  id: number;
  source: string;
  api: string | string[];
  patterns: string[];
  path: string;
  match: boolean;
  error: string | null;
  platform: string;
}

const data = JSON.parse(readFileSync(path.join(corpus, 'cases.json'), 'utf8')) as {
  match_cases: MatchCase[];
  new_cases: { source: string; patterns: string[]; expect_count?: number; expect_exclusions?: boolean; expect_error?: boolean }[];
  compile_cases: { pattern: string; matchType: string; regexp: string | null }[];
  readall_cases: { input: string | null; expected: string[] }[];
};

/** What the upstream test observes: the boolean, or the error text. */
function evaluate(c: MatchCase): boolean | string {
  try {
    const matcher = compileIgnore(c.patterns);
    if (c.api === 'Matches') {
      // The package-level Matches cleans the path and never excludes the context root itself.
      const file = goClean(c.path);
      return file === '.' ? false : matcher.matches(file);
    }
    return matcher.matches(c.path);
  } catch (error) {
    if (error instanceof IgnorePatternError) return error.message;
    throw error;
  }
}

describe('patternmatcher match cases', () => {
  it('has all 138 cases', () => {
    expect(data.match_cases.length).toBe(138);
  });

  for (const c of data.match_cases) {
    it(`#${c.id} ${JSON.stringify(c.patterns)} ${JSON.stringify(c.path)}`, () => {
      expect(evaluate(c)).toBe(c.error ?? c.match);
    });
  }
});

describe('patternmatcher.New cases', () => {
  for (const c of data.new_cases) {
    it(c.source, () => {
      if (c.expect_error) {
        expect(() => compileIgnore(c.patterns)).toThrow(IgnorePatternError);
        return;
      }
      const matcher = compileIgnore(c.patterns);
      if (c.expect_count !== undefined) expect(matcher.patterns.length).toBe(c.expect_count);
      if (c.expect_exclusions !== undefined) expect(matcher.hasNegations).toBe(c.expect_exclusions);
    });
  }
});

describe('patternmatcher compile cases', () => {
  it('has all 21 cases', () => {
    expect(data.compile_cases.length).toBe(21);
  });

  for (const c of data.compile_cases) {
    it(c.pattern, () => {
      const pattern = compileIgnorePattern(goClean(c.pattern))!;
      expect(pattern.matchType).toBe(c.matchType);
      if (c.matchType === 'regexpMatch') expect(pattern.goRegexp).toBe(c.regexp);
    });
  }
});

describe('ignorefile.ReadAll cases', () => {
  for (const [index, c] of data.readall_cases.entries()) {
    it(`#${index}`, () => {
      expect(readIgnoreFile(c.input ?? '')).toEqual(c.expected);
    });
  }
});

interface BalenaCase {
  description: string;
  skip_docker: boolean;
  case_insensitive_only: boolean;
  patterns: string[] | null;
  dockerignore_text: string | null;
  expect_ignored: Record<string, boolean>;
}

const cases = (JSON.parse(readFileSync(path.join(corpus, 'balena-cases.json'), 'utf8')) as { cases: BalenaCase[] }).cases;

describe('balena dockerignore cases, with Docker semantics', () => {
  it('has 66 cases and 376 path expectations', () => {
    expect(cases.length).toBe(66);
    expect(cases.reduce((n, c) => n + Object.keys(c.expect_ignored).length, 0)).toBe(376);
  });

  for (const c of cases) {
    it(c.description, () => {
      const text = c.patterns ? c.patterns.join('\n') : c.dockerignore_text!;
      const patterns = readIgnoreFile(text);
      if (c.description.startsWith('Trailing spaces with backslashes never match')) {
        expect(() => compileIgnore(patterns)).toThrow(IgnorePatternError);
        expect(() => compileIgnore(patterns)).toThrow('syntax error in pattern');
        return;
      }
      const matcher = compileIgnore(patterns);
      for (const [p, ignored] of Object.entries(c.expect_ignored)) {
        if (p === '') continue;
        const docker = c.case_insensitive_only && ignored ? false : ignored;
        expect(matcher.matches(p), `${JSON.stringify(p)} ignored`).toBe(docker);
      }
    });
  }
});

const rows = data.match_cases.filter((c) => c.source.endsWith(':matchTests (TestMatch)'));

// `a*` does not match `ab/c` itself; moby's Matches says yes because it matches the parent `ab`.
const parentOnly = new Set(['a* ab/c']);

describe('filepath.Match table', () => {
  it('has the 54 TestMatch rows', () => {
    expect(rows.length).toBe(54);
  });

  for (const row of rows) {
    const [pattern] = row.patterns;
    it(`${JSON.stringify(pattern)} ${JSON.stringify(row.path)}`, () => {
      if (row.error) {
        expect(() => globMatch(pattern, row.path)).toThrow(BadPatternError);
        expect(() => globMatch(pattern, row.path)).toThrow(row.error);
        return;
      }
      const expected = parentOnly.has(`${pattern} ${row.path}`) ? false : row.match;
      expect(globMatch(pattern, row.path)).toBe(expected);
    });
  }
});
