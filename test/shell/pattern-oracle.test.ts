/**
 * The pattern matcher of `${x#p}`, `${x%p}`, `${x/p/r}` and `${x//p/r}` against a reference: the
 * backtracking RegExp translation berth used before (it is exponential on `*a*a*a...`, which is
 * why the matcher replaced it, but on short inputs it is a faithful model of Go's regexp for these
 * patterns: leftmost, then lazy or greedy preference). Seeded random patterns and values, with
 * newlines, escapes, astral characters and regexp metacharacters.
 */
import { describe, expect, it } from 'vitest';
import { replaceAll, replaceFirst, reversePattern, trimPrefix, trimSuffix } from '../../src/shell/pattern.ts';

const cps = (s: string): string[] => [...s];
const reverse = (s: string): string => cps(s).reverse().join('');

function reference(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  let source = anchored ? '^' : '';
  const p = cps(pattern);
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '*') source += greedy ? '[^\\n]*' : '[^\\n]*?';
    else if (c === '?') source += '[^\\n]';
    else if (c === '\\') {
      const next = p[i + 1];
      if (next === '}' || next === '/') continue;
      if (next !== '*' && next !== '?' && next !== '\\') return /(?!)/; // an error either way
      source += `\\${next}`;
      i++;
    } else source += /[[\]{}.+()|^$]/.test(c) ? `\\${c}` : c;
  }
  return new RegExp(source, anchored ? 'u' : 'gu');
}

function refTrimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = reference(pattern, greedy, true).exec(value);
  return m ? value.slice(m[0].length) : value;
}

function refReplaceAll(value: string, pattern: string, replacement: string): string {
  const re = reference(pattern, true, false);
  let out = '';
  let last = 0;
  let pos = 0;
  while (pos <= value.length) {
    re.lastIndex = pos;
    const m = re.exec(value);
    if (!m) break;
    const end = m.index + m[0].length;
    out += value.slice(last, m.index);
    if (end > last || m.index === 0) out += replacement;
    last = end;
    const width = pos < value.length ? (value.codePointAt(pos)! > 0xffff ? 2 : 1) : 0;
    pos = pos + width > end ? pos + width : pos + 1 > end ? pos + 1 : end;
  }
  return out + value.slice(last);
}

describe('pattern matcher against a RegExp reference', () => {
  it('agrees on 20,000 random cases', () => {
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const pick = (s: string[]): string => s[rnd(s.length)];
    for (let t = 0; t < 20000; t++) {
      let pattern = '';
      for (let i = rnd(6); i > 0; i--) pattern += pick(['a', 'b', '*', '?', '*', '\n', '\\*', '\\?', '😀', '.', '(']);
      let value = '';
      for (let i = rnd(10); i > 0; i--) value += pick(['a', 'b', 'a', '\n', '*', '😀', '.', '(']);
      const context = JSON.stringify({ pattern, value });
      for (const greedy of [false, true]) {
        expect(trimPrefix(pattern, value, greedy), context).toBe(refTrimPrefix(pattern, value, greedy));
        expect(trimSuffix(pattern, value, greedy), context).toBe(reverse(refTrimPrefix(reversePattern(pattern), reverse(value), greedy)));
      }
      const first = reference(pattern, true, false);
      first.lastIndex = 0;
      const m = first.exec(value);
      expect(replaceFirst(value, pattern, 'x'), context).toBe(m ? value.slice(0, m.index) + 'x' + value.slice(m.index + m[0].length) : value);
      expect(replaceAll(value, pattern, 'x'), context).toBe(refReplaceAll(value, pattern, 'x'));
    }
  });
});
