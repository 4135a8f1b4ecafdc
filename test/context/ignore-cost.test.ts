/**
 * .dockerignore patterns are regexps underneath (patternmatcher), and both the patterns and the
 * context's file names can be someone else's. Go's regexp is linear; a backtracking RegExp took
 * 64 s to test `a*a*a*a*a*a*a*a*a*a*a*a*b` against one name of 40 `a`s (each star more multiplied
 * it), so the 24 stars below would run for ages. The matcher must also keep agreeing with the
 * RegExp translation wherever that one is fast.
 */
import { describe, expect, it } from 'vitest';
import { compileIgnore, compileIgnorePattern } from '../../src/context/dockerignore.ts';
import { goMatcher, goRegExp } from '../../src/context/goregexp.ts';

describe('.dockerignore matching cost', () => {
  it('does not backtrack on many stars, double stars or classes', () => {
    const name = 'a'.repeat(40);
    const ignore = compileIgnore(['a*'.repeat(24) + 'b', '**/a'.repeat(24) + 'b', '[a]*'.repeat(24) + 'b', 'x/' + 'a*'.repeat(24)]);
    expect(ignore.matches(name)).toBe(false);
    expect(ignore.matches('a/'.repeat(40) + 'c')).toBe(false);
    expect(ignore.matches(`x/${name}`)).toBe(true);
    expect(ignore.matches(`${name}b`)).toBe(true);
  });

  it('agrees with the RegExp translation on 20,000 random patterns and names', () => {
    let seed = 99;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const pick = (s: string[]): string => s[rnd(s.length)];
    const parts = ['a', 'b', '*', '**', '?', '[', ']', '\\', '^', '.', '/', '-', 'd', '[:alpha:]', '\\d', '\\b', '\\B', '\\Q', '\\E', '😀', '\\pL', '\\x41', 'A', '_', '[^a]', '[a-c]'];
    const names = ['a', 'b', '/', 'A', '_', '.', '1', '😀', '\n', '-', '^', 'aa/b'];
    let compared = 0;
    for (let t = 0; t < 20000; t++) {
      let pattern = '';
      for (let i = rnd(8); i >= 0; i--) pattern += pick(parts);
      let source: string | undefined;
      let re: RegExp;
      try {
        source = compileIgnorePattern(pattern)?.goRegexp;
        if (source === undefined) continue;
        re = goRegExp(source);
      } catch {
        continue;
      }
      // -1: always the NFA, never V8's engine.
      const matcher = goMatcher(source, -1);
      for (let k = 0; k < 5; k++) {
        let name = '';
        for (let i = rnd(8); i >= 0; i--) name += pick(names);
        expect(matcher.test(name), JSON.stringify({ pattern, source, name })).toBe(re.test(name));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(40000);
  });
});
