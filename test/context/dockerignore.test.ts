/**
 * moby/patternmatcher's own test tables (../shared/corpus/dockerignore/cases.json): every match,
 * New(), compile and ReadAll case.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileIgnore, compileIgnorePattern, IgnorePatternError, readIgnoreFile } from '../../src/context/index.ts';
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
