/**
 * Go's character predicates and string quoting, as BuildKit's lexer sees text.
 *
 * BuildKit is written in Go, so "is this a letter", "is this white space" and the way an input
 * string is quoted in an error message all follow Go's `unicode` and `strconv` packages. JavaScript
 * differs in small ways (`\s` matches U+FEFF but not U+0085, `trim()` strips U+FEFF), so these
 * helpers spell out Go's rules instead of borrowing JavaScript's.
 */

/** End of input, as text/scanner reports it. */
export const EOF = -1;

/** U+FFFD: what Go produces for an invalid or missing rune. */
export const RUNE_ERROR = 0xfffd;

const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;
// Go's strconv.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
const UNPRINTABLE = /^[\p{C}\p{Z}]$/u;

/** unicode.IsSpace: the ASCII spaces, U+0085, U+00A0 and the Unicode White_Space space separators. */
export function isGoSpace(cp: number): boolean {
  if (cp < 0x80) return cp === 0x20 || (cp >= 0x09 && cp <= 0x0d);
  switch (cp) {
    case 0x85: case 0xa0: case 0x1680: case 0x2028: case 0x2029: case 0x202f: case 0x205f: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200a;
  }
}

/** unicode.IsLetter: general category L. */
export function isGoLetter(cp: number): boolean {
  if (cp < 0x80) return (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a);
  return LETTER.test(String.fromCodePoint(cp));
}

/** unicode.IsDigit: general category Nd (so Arabic-Indic digits count too). */
export function isGoDigit(cp: number): boolean {
  if (cp < 0x80) return cp >= 0x30 && cp <= 0x39;
  return DIGIT.test(String.fromCodePoint(cp));
}

/** The code points of `s` in order (a lone surrogate stands for itself). */
export function codePoints(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; ) {
    const cp = s.codePointAt(i)!;
    out.push(cp);
    i += cp > 0xffff ? 2 : 1;
  }
  return out;
}

/** `s` with its code points in reverse order (Go reverses runes, not bytes or UTF-16 units). */
export function reverseRunes(s: string): string {
  return codePoints(s).reverse().map((cp) => String.fromCodePoint(cp)).join('');
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** strconv.Quote (what Go's `%q` prints), used to name the input in error messages. */
export function goQuote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; ) {
    const cp = s.codePointAt(i)!;
    i += cp > 0xffff ? 2 : 1;
    switch (cp) {
      case 0x22: out += '\\"'; continue;
      case 0x5c: out += '\\\\'; continue;
      case 0x07: out += '\\a'; continue;
      case 0x08: out += '\\b'; continue;
      case 0x0c: out += '\\f'; continue;
      case 0x0a: out += '\\n'; continue;
      case 0x0d: out += '\\r'; continue;
      case 0x09: out += '\\t'; continue;
      case 0x0b: out += '\\v'; continue;
    }
    if (cp < 0x20 || cp === 0x7f) {
      out += `\\x${hex(cp, 2)}`;
    } else if (cp < 0x80) {
      out += String.fromCharCode(cp);
    } else if (cp >= 0xd800 && cp <= 0xdfff) {
      // A lone surrogate cannot be UTF-8; Go would see (and print) the replacement character.
      out += '\ufffd';
    } else if (UNPRINTABLE.test(String.fromCodePoint(cp))) {
      out += cp > 0xffff ? `\\U${hex(cp, 8)}` : `\\u${hex(cp, 4)}`;
    } else {
      out += String.fromCodePoint(cp);
    }
  }
  return out + '"';
}
