/**
 * The patterns of `${VAR#p}`, `${VAR%p}` and `${VAR/p/r}`, with BuildKit's meaning.
 *
 * BuildKit turns the shell pattern into a Go regular expression: `*` is any run of characters
 * (shortest for `#`/`%`, longest for `##`/`%%` and `/`), `?` is one character, `\` escapes only
 * `*`, `?` and `\` (and is dropped before `}` and `/`, which it merely protects from ending the
 * expansion), every other character is literal. There are no bracket expressions. Go's `.` does not
 * match a newline, so neither do `*` and `?` here. Suffix trimming reverses both the pattern and
 * the value and trims a prefix; `//` replaces like Go's `Regexp.ReplaceAllString`, including its
 * handling of empty matches and of `$` references in the replacement.
 */
import { codePoints, EOF, isGoDigit, isGoLetter, reverseRunes } from './gotext.ts';

/** A pattern BuildKit cannot convert; the message is BuildKit's. */
export class PatternError extends Error {}

const BACKSLASH = 0x5c;
const STAR = 0x2a;
const QUESTION = 0x3f;
const DOLLAR = 0x24;

/** A pattern element: a literal code point, `?` (one character) or `*` (any run). */
const ANY = -2;
const RUN = -3;

/**
 * The pattern as elements: a code point to match, ANY or RUN. Neither ANY nor RUN matches a
 * newline (Go's `.`).
 */
function patternElements(pattern: string): number[] {
  const cps = codePoints(pattern);
  const out: number[] = [];
  // Go's text/scanner silently drops a byte order mark at the very start.
  let i = cps[0] === 0xfeff ? 1 : 0;
  while (i < cps.length) {
    let cp = cps[i++];
    if (cp === STAR) {
      out.push(RUN);
      continue;
    }
    if (cp === QUESTION) {
      out.push(ANY);
      continue;
    }
    if (cp === BACKSLASH) {
      const following = i < cps.length ? cps[i] : EOF;
      // `\}` and `\/` only kept the character from closing `${...}`; the character is literal.
      if (following === 0x7d || following === 0x2f) continue;
      cp = following;
      i++;
      if (cp !== STAR && cp !== QUESTION && cp !== BACKSLASH) {
        throw new PatternError(`invalid pattern (${pattern}) in substitution: invalid escape '\\${cp === EOF ? '\ufffd' : String.fromCodePoint(cp)}'`);
      }
    }
    out.push(cp);
  }
  return out;
}

/**
 * Matching runs the pattern as a set of states (how many elements have matched), one pass over
 * the value: BuildKit's patterns go through Go's regexp, which never backtracks, and a
 * backtracking JavaScript RegExp took exponential time on `*a*a*a...` (a hang a short Dockerfile
 * could cause). With only literals, `?` and `*`, Go's preferences come down to lengths: the lazy
 * `#`/`%` match is the shortest one, a greedy match the longest (placing every element as early,
 * or as late, as any match places it gives a match).
 */
interface Matcher {
  elements: number[];
  /** Scratch state sets, reused: `current[k]` is 1 when k elements have matched. */
  current: Uint8Array;
  following: Uint8Array;
}

function matcher(pattern: string): Matcher {
  const elements = patternElements(pattern);
  return { elements, current: new Uint8Array(elements.length + 1), following: new Uint8Array(elements.length + 1) };
}

/** Adds state k and what `*` can skip to from it (a `*` may match nothing). */
function addState(m: Matcher, set: Uint8Array, k: number): void {
  set[k] = 1;
  while (k < m.elements.length && m.elements[k] === RUN) set[++k] = 1;
}

/**
 * Ends (UTF-16 offsets) of the matches of the whole pattern that start at `start` in `value`:
 * the shortest, or the longest; -1 when none does.
 */
function matchAt(m: Matcher, value: string, start: number, longest: boolean): number {
  const n = m.elements.length;
  let current = m.current;
  let following = m.following;
  current.fill(0);
  addState(m, current, 0);
  let found = current[n] ? start : -1;
  if (found >= 0 && !longest) return found;
  let alive = true;
  for (let pos = start; alive && pos < value.length; ) {
    const cp = value.codePointAt(pos)!;
    pos += cp > 0xffff ? 2 : 1;
    following.fill(0);
    alive = false;
    for (let k = 0; k < n; k++) {
      if (!current[k]) continue;
      const e = m.elements[k];
      if (e === RUN) {
        if (cp !== 0x0a) {
          addState(m, following, k);
          alive = true;
        }
      } else if (e === ANY ? cp !== 0x0a : e === cp) {
        addState(m, following, k + 1);
        alive = true;
      }
    }
    [current, following] = [following, current];
    if (current[n]) {
      found = pos;
      if (!longest) break;
    }
  }
  m.current = current;
  m.following = following;
  return found;
}

/**
 * The leftmost match at or after `from`, the longest there (as Go's greedy `*` gives), or
 * undefined. One pass: a new attempt starts at every position until a match is found, and each
 * state keeps only the earliest start that reached it (the same state has the same future, and
 * the earlier start is preferred).
 */
function search(m: Matcher, value: string, from: number): { start: number; end: number } | undefined {
  const n = m.elements.length;
  let current = new Int32Array(n + 1).fill(-1);
  let following = new Int32Array(n + 1).fill(-1);
  const add = (set: Int32Array, k: number, start: number): void => {
    for (;;) {
      if (set[k] < 0 || set[k] > start) set[k] = start;
      if (k >= n || m.elements[k] !== RUN) return;
      k++;
    }
  };
  let bestStart = -1;
  let bestEnd = -1;
  for (let pos = from; ; ) {
    if (bestStart < 0) add(current, 0, pos);
    const accepted = current[n];
    if (accepted >= 0 && (bestStart < 0 || accepted <= bestStart)) {
      bestStart = accepted;
      bestEnd = pos;
    }
    if (pos >= value.length) break;
    const cp = value.codePointAt(pos)!;
    pos += cp > 0xffff ? 2 : 1;
    following.fill(-1);
    let alive = false;
    for (let k = 0; k < n; k++) {
      const start = current[k];
      // Once a match is found, only attempts that started no later can still win.
      if (start < 0 || (bestStart >= 0 && start > bestStart)) continue;
      const e = m.elements[k];
      if (e === RUN ? cp !== 0x0a : e === ANY ? cp !== 0x0a : e === cp) {
        add(following, e === RUN ? k : k + 1, start);
        alive = true;
      }
    }
    [current, following] = [following, current];
    if (!alive && bestStart >= 0) break;
  }
  return bestStart >= 0 ? { start: bestStart, end: bestEnd } : undefined;
}

/** `${VAR#pattern}` (shortest) and `${VAR##pattern}` (greedy). */
export function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const end = matchAt(matcher(pattern), value, 0, greedy);
  return end >= 0 ? value.slice(end) : value;
}

/** The pattern reversed rune by rune, keeping each `\x` escape pair in its order: `a\*c` -> `c\*a`. */
export function reversePattern(pattern: string): string {
  const cps = codePoints(pattern);
  const last = cps.length - 1;
  const out = new Array<number>(cps.length);
  for (let i = 0; i <= last; ) {
    const at = last - i;
    if (cps[i] === BACKSLASH && i !== last) {
      out[at - 1] = BACKSLASH;
      out[at] = cps[i + 1];
      i += 2;
    } else {
      out[at] = cps[i];
      i++;
    }
  }
  return out.map((cp) => String.fromCodePoint(cp)).join('');
}

/**
 * `${VAR%pattern}` and `${VAR%%pattern}`. A regexp cannot find the shortest match that ends at the
 * end, so BuildKit reverses pattern and value, trims a prefix, and reverses back.
 */
export function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  return reverseRunes(trimPrefix(reversePattern(pattern), reverseRunes(value), greedy));
}

/** `${VAR/pattern/replacement}`: the leftmost match (greedy stars) is replaced by the text as is. */
export function replaceFirst(value: string, pattern: string, replacement: string): string {
  const match = search(matcher(pattern), value, 0);
  if (!match) return value;
  return value.slice(0, match.start) + replacement + value.slice(match.end);
}

/**
 * `${VAR//pattern/replacement}`: Go's ReplaceAllString. An empty match right after a previous match
 * is not replaced, the search always advances by at least one character, and the replacement is a
 * template in which `$0`/`${0}` is the match, `$$` is `$`, and any other reference is empty.
 */
export function replaceAll(value: string, pattern: string, replacement: string): string {
  const m = matcher(pattern);
  let out = '';
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= value.length) {
    const match = search(m, value, searchPos);
    if (!match) break;
    const { start, end } = match;
    out += value.slice(lastMatchEnd, start);
    if (end > lastMatchEnd || start === 0) out += expandTemplate(replacement, value.slice(start, end));
    lastMatchEnd = end;
    const width = searchPos < value.length ? (value.codePointAt(searchPos)! > 0xffff ? 2 : 1) : 0;
    if (searchPos + width > end) searchPos += width;
    else if (searchPos + 1 > end) searchPos++;
    else searchPos = end;
  }
  return out + value.slice(lastMatchEnd);
}

/** Go's Regexp.Expand for a regexp without groups: only group 0 (the whole match) has text. */
function expandTemplate(template: string, match: string): string {
  if (!template.includes('$')) return template;
  let out = '';
  let i = 0;
  while (i < template.length) {
    const dollar = template.indexOf('$', i);
    if (dollar < 0) break;
    out += template.slice(i, dollar);
    i = dollar + 1;
    if (template.charCodeAt(i) === DOLLAR) {
      out += '$';
      i++;
      continue;
    }
    const ref = templateReference(template, i);
    if (!ref) {
      out += '$';
      continue;
    }
    if (ref.name === '0') out += match;
    i = ref.end;
  }
  return out + template.slice(i);
}

/** A `name` or `{name}` reference starting at `i` (after the `$`), as Go's regexp `extract` reads it. */
function templateReference(template: string, i: number): { name: string; end: number } | undefined {
  const brace = template.charCodeAt(i) === 0x7b;
  let j = brace ? i + 1 : i;
  const nameStart = j;
  while (j < template.length) {
    const cp = template.codePointAt(j)!;
    if (!isGoLetter(cp) && !isGoDigit(cp) && cp !== 0x5f) break;
    j += cp > 0xffff ? 2 : 1;
  }
  if (j === nameStart) return undefined;
  const name = template.slice(nameStart, j);
  if (brace) {
    if (template.charCodeAt(j) !== 0x7d) return undefined;
    j++;
  }
  return { name, end: j };
}
