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

/** Characters the pattern converter escapes because they mean something to a regexp. */
const REGEXP_SPECIAL = new Set([...'[]{}.+()|^$'].map((c) => c.codePointAt(0)!));

// Patterns come from Dockerfile text and variable values, so the same few recur; compile each once.
const compiled = new Map<string, RegExp>();
const COMPILED_LIMIT = 1024;

/**
 * The regexp for a shell pattern. Non-anchored ones carry the `g` flag so a search can start at
 * `lastIndex`; callers always set `lastIndex` first because the objects are shared.
 */
function patternRegExp(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  const key = `${greedy ? 'G' : 'L'}${anchored ? 'A' : 'U'}${pattern}`;
  const hit = compiled.get(key);
  if (hit) return hit;

  const cps = codePoints(pattern);
  const star = greedy ? '[^\\n]*' : '[^\\n]*?';
  let source = anchored ? '^' : '';
  // Go's text/scanner silently drops a byte order mark at the very start.
  let i = cps[0] === 0xfeff ? 1 : 0;
  while (i < cps.length) {
    let cp = cps[i++];
    if (cp === STAR) {
      source += star;
      continue;
    }
    if (cp === QUESTION) {
      source += '[^\\n]';
      continue;
    }
    if (cp === BACKSLASH) {
      const following = i < cps.length ? cps[i] : EOF;
      // `\}` and `\/` only kept the character from closing `${...}`; the character is literal.
      if (following === 0x7d || following === 0x2f) continue;
      cp = following;
      i++;
      if (cp !== STAR && cp !== QUESTION && cp !== BACKSLASH) {
        throw new PatternError(`invalid escape '\\${cp === EOF ? '\ufffd' : String.fromCodePoint(cp)}'`);
      }
      source += '\\' + String.fromCharCode(cp);
      continue;
    }
    if (REGEXP_SPECIAL.has(cp)) source += '\\';
    source += String.fromCodePoint(cp);
  }

  const re = new RegExp(source, anchored ? 'u' : 'gu');
  if (compiled.size >= COMPILED_LIMIT) compiled.clear();
  compiled.set(key, re);
  return re;
}

function compile(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  try {
    return patternRegExp(pattern, greedy, anchored);
  } catch (error) {
    throw new PatternError(`invalid pattern (${pattern}) in substitution: ${(error as Error).message}`);
  }
}

/** `${VAR#pattern}` (shortest) and `${VAR##pattern}` (greedy). */
export function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const match = compile(pattern, greedy, true).exec(value);
  return match ? value.slice(match[0].length) : value;
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
  const re = compile(pattern, true, false);
  re.lastIndex = 0;
  const match = re.exec(value);
  if (!match) return value;
  return value.slice(0, match.index) + replacement + value.slice(match.index + match[0].length);
}

/**
 * `${VAR//pattern/replacement}`: Go's ReplaceAllString. An empty match right after a previous match
 * is not replaced, the search always advances by at least one character, and the replacement is a
 * template in which `$0`/`${0}` is the match, `$$` is `$`, and any other reference is empty.
 */
export function replaceAll(value: string, pattern: string, replacement: string): string {
  const re = compile(pattern, true, false);
  let out = '';
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= value.length) {
    re.lastIndex = searchPos;
    const match = re.exec(value);
    if (!match) break;
    const start = match.index;
    const end = start + match[0].length;
    out += value.slice(lastMatchEnd, start);
    if (end > lastMatchEnd || start === 0) out += expandTemplate(replacement, match[0]);
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
