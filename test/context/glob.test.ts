/**
 * filepath.Match semantics. The corpus carries Go's TestMatch table as moby runs it (through
 * Matches, with parent-directory matching); on its own filepath.Match differs only where a
 * parent directory would match, so those rows are corrected here.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BadPatternError, compileGlob, globMatch, hasGlobMeta } from '../../src/context/index.ts';

const file = path.resolve(import.meta.dirname, '../../../shared/corpus/dockerignore/cases.json');
const rows = (JSON.parse(readFileSync(file, 'utf8')) as {
  match_cases: { source: string; patterns: string[]; path: string; match: boolean; error: string | null }[];
}).match_cases.filter((c) => c.source.endsWith(':matchTests (TestMatch)'));

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

describe('filepath.Match details', () => {
  it('rejects a malformed pattern whatever the name', () => {
    for (const pattern of ['a[', 'a/b[', '[a-', 'x[]', '*\\']) {
      expect(() => compileGlob(pattern), pattern).toThrow(BadPatternError);
    }
    expect(() => globMatch('a[', 'x')).toThrow(BadPatternError);
  });

  it('keeps stars within one path element but lets classes match a slash', () => {
    expect(globMatch('*', 'a/b')).toBe(false);
    expect(globMatch('*/b', 'a/b')).toBe(true);
    expect(globMatch('a[/]b', 'a/b')).toBe(true);
    expect(globMatch('a[^x]b', 'a/b')).toBe(true);
    expect(globMatch('', '')).toBe(true);
    expect(globMatch('', 'a')).toBe(false);
  });

  it('skips bytes, not characters, after a star (as Go does)', () => {
    // Go's star loop advances byte by byte, so two `?` can each eat a stray UTF-8 byte.
    expect(globMatch('*??', '☺')).toBe(true);
    expect(globMatch('??', '☺')).toBe(false);
    expect(globMatch('*.txt', 'héllo.txt')).toBe(true);
  });

  it('matches ranges by code point, astral ones included', () => {
    expect(globMatch('[😀-😂]', '😁')).toBe(true);
    expect(globMatch('?', '😁')).toBe(true);
  });
});

describe('hasGlobMeta', () => {
  it('finds unescaped wildcards only', () => {
    expect(hasGlobMeta('src/*.ts')).toBe(true);
    expect(hasGlobMeta('file?.txt')).toBe(true);
    expect(hasGlobMeta('[ab]')).toBe(true);
    expect(hasGlobMeta('plain/path')).toBe(false);
    expect(hasGlobMeta('a\\*b')).toBe(false);
    expect(hasGlobMeta('a\\\\*b')).toBe(true);
  });
});
