/**
 * Behaviour BuildKit has that the corpus tables do not pin down: the backtick escape, the options
 * used for later passes, Go's regexp semantics inside patterns, and the error messages.
 */
import { describe, expect, it } from 'vitest';
import { expandWord, expandWords, expandWordWithMatches, ShellExpansionError } from '../../src/shell/index.ts';

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
