/**
 * Translate the Go (RE2) regular expressions that moby's patternmatcher builds from .dockerignore
 * patterns into JavaScript RegExps that match the same strings.
 *
 * patternmatcher passes `[`, `]`, `^` and backslash escapes from the pattern straight into the
 * regexp, so Go's regexp syntax leaks into .dockerignore: `\d` is a digit, `[[:alpha:]]` a letter,
 * `[^/]` may match a newline while `.` may not. JavaScript's syntax differs in each of these, and in
 * `u` mode it rejects a lone `]` and most identity escapes, so the regexp is re-emitted piece by
 * piece: literals as `\u{...}`, classes as explicit ranges. Anything Go would reject throws.
 */

import { linearMatcher, type LinearMatcher } from './linear-match.ts';

type Range = [number, number];
const MAX_RUNE = 0x10ffff;

function r(lo: string, hi = lo): Range {
  return [lo.codePointAt(0)!, hi.codePointAt(0)!];
}

const PERL_CLASSES: Record<string, Range[]> = {
  d: [r('0', '9')],
  s: [r('\t', '\n'), r('\f', '\r'), r(' ')],
  w: [r('0', '9'), r('A', 'Z'), r('_'), r('a', 'z')],
};

const POSIX_CLASSES: Record<string, Range[]> = {
  alnum: [r('0', '9'), r('A', 'Z'), r('a', 'z')],
  alpha: [r('A', 'Z'), r('a', 'z')],
  ascii: [[0, 0x7f]],
  blank: [r('\t'), r(' ')],
  cntrl: [[0, 0x1f], [0x7f, 0x7f]],
  digit: [r('0', '9')],
  graph: [r('!', '~')],
  lower: [r('a', 'z')],
  print: [r(' ', '~')],
  punct: [r('!', '/'), r(':', '@'), r('[', '`'), r('{', '~')],
  space: [r('\t', '\r'), r(' ')],
  upper: [r('A', 'Z')],
  word: [r('0', '9'), r('A', 'Z'), r('_'), r('a', 'z')],
  xdigit: [r('0', '9'), r('A', 'F'), r('a', 'f')],
};

/** The ranges not in `ranges` (which are sorted and disjoint, as the tables above are). */
function complement(ranges: Range[]): Range[] {
  const out: Range[] = [];
  let next = 0;
  for (const [lo, hi] of ranges) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= MAX_RUNE) out.push([next, MAX_RUNE]);
  return out;
}

/** `\d \s \w` and their negations `\D \S \W` (ASCII only in Go), or undefined. */
function perlClass(cp: number | undefined): Range[] | undefined {
  switch (cp) {
    case 0x64: return PERL_CLASSES.d;
    case 0x73: return PERL_CLASSES.s;
    case 0x77: return PERL_CLASSES.w;
    case 0x44: return complement(PERL_CLASSES.d);
    case 0x53: return complement(PERL_CLASSES.s);
    case 0x57: return complement(PERL_CLASSES.w);
    default: return undefined;
  }
}

function esc(cp: number): string {
  return `\\u{${cp.toString(16)}}`;
}

function rangesSource(ranges: Range[]): string {
  return ranges.map(([lo, hi]) => (lo === hi ? esc(lo) : `${esc(lo)}-${esc(hi)}`)).join('');
}

function isAlnum(cp: number): boolean {
  return (cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a);
}

function isOctal(cp: number | undefined): cp is number {
  return cp !== undefined && cp >= 0x30 && cp <= 0x37;
}

function hexValue(cp: number | undefined): number {
  if (cp === undefined) return -1;
  if (cp >= 0x30 && cp <= 0x39) return cp - 0x30;
  if (cp >= 0x61 && cp <= 0x66) return cp - 0x61 + 10;
  if (cp >= 0x41 && cp <= 0x46) return cp - 0x41 + 10;
  return -1;
}

class Translator {
  readonly cps: number[];
  i = 0;

  constructor(source: string) {
    this.cps = [...source].map((c) => c.codePointAt(0)!);
  }

  fail(what: string): never {
    throw new SyntaxError(`invalid Go regexp: ${what}`);
  }

  /** `\p{Name}`, `\pL`, `\P...` at `i` (which is at the backslash): the JS escape. */
  unicodeClass(): string {
    const negated = this.cps[this.i + 1] === 0x50;
    this.i += 2;
    let name: string;
    if (this.cps[this.i] === 0x7b) {
      const close = this.cps.indexOf(0x7d, this.i);
      if (close < 0) this.fail('missing } in \\p{');
      name = String.fromCodePoint(...this.cps.slice(this.i + 1, close));
      this.i = close + 1;
    } else {
      if (this.i >= this.cps.length) this.fail('\\p at end');
      name = String.fromCodePoint(this.cps[this.i++]);
    }
    let neg = negated;
    if (name.startsWith('^')) {
      neg = !neg;
      name = name.slice(1);
    }
    // Go accepts general categories and scripts by bare name; JavaScript wants Script= for the latter.
    const property = name === 'Any' || /^[A-Z][a-z]?$/.test(name) ? name : `Script=${name}`;
    const source = `\\${neg ? 'P' : 'p'}{${property}}`;
    try {
      new RegExp(source, 'u');
    } catch {
      this.fail(`unknown class ${name}`);
    }
    return source;
  }

  /** A single-character escape at `i` (the backslash): the code point (Go's parseEscape). */
  escapeRune(): number {
    const c = this.cps[this.i + 1];
    if (c === undefined) this.fail('trailing backslash');
    this.i += 2;
    if (c < 0x80 && !isAlnum(c)) return c;
    if (c === 0x30 || (c >= 0x31 && c <= 0x37 && isOctal(this.cps[this.i]))) {
      let value = c - 0x30;
      for (let k = 1; k < 3 && isOctal(this.cps[this.i]); k++) value = value * 8 + this.cps[this.i++] - 0x30;
      return value;
    }
    if (c === 0x78) {
      if (this.cps[this.i] === 0x7b) {
        let value = 0;
        let digits = 0;
        for (this.i++; this.cps[this.i] !== 0x7d; this.i++) {
          const v = hexValue(this.cps[this.i]);
          if (v < 0) this.fail('bad \\x{}');
          value = value * 16 + v;
          if (value > MAX_RUNE) this.fail('\\x{} too large');
          digits++;
        }
        this.i++;
        if (digits === 0) this.fail('empty \\x{}');
        return value;
      }
      const x = hexValue(this.cps[this.i]);
      const y = hexValue(this.cps[this.i + 1]);
      if (x < 0 || y < 0) this.fail('bad \\x');
      this.i += 2;
      return x * 16 + y;
    }
    const control: Record<number, number> = { 0x61: 7, 0x66: 12, 0x6e: 10, 0x72: 13, 0x74: 9, 0x76: 11 };
    if (control[c] !== undefined) return control[c];
    return this.fail(`invalid escape \\${String.fromCodePoint(c)}`);
  }

  /** A bracket expression at `i` (the `[`), emitted as a JS class. */
  charClass(): string {
    this.i++;
    let negated = false;
    if (this.cps[this.i] === 0x5e) {
      negated = true;
      this.i++;
    }
    let body = '';
    let first = true;
    while (first || this.cps[this.i] !== 0x5d) {
      if (this.i >= this.cps.length) this.fail('missing ]');
      first = false;
      const c = this.cps[this.i];
      if (c === 0x5b && this.cps[this.i + 1] === 0x3a) {
        const named = this.posixClass();
        if (named !== undefined) {
          body += named;
          continue;
        }
      }
      if (c === 0x5c) {
        const e = this.cps[this.i + 1];
        if (e === 0x70 || e === 0x50) {
          body += this.unicodeClass();
          continue;
        }
        const perl = perlClass(e);
        if (perl) {
          body += rangesSource(perl);
          this.i += 2;
          continue;
        }
      }
      const lo = this.classChar();
      let hi = lo;
      if (this.cps[this.i] === 0x2d && this.i + 1 < this.cps.length && this.cps[this.i + 1] !== 0x5d) {
        this.i++;
        hi = this.classChar();
        if (hi < lo) this.fail('invalid character class range');
      }
      body += rangesSource([[lo, hi]]);
    }
    this.i++;
    return `[${negated ? '^' : ''}${body}]`;
  }

  classChar(): number {
    if (this.i >= this.cps.length) this.fail('missing ]');
    if (this.cps[this.i] === 0x5c) return this.escapeRune();
    return this.cps[this.i++];
  }

  /** `[:name:]` at `i`; undefined when there is no `:]` at all (then `[` is an ordinary member). */
  posixClass(): string | undefined {
    let end = -1;
    for (let k = this.i + 2; k + 1 < this.cps.length; k++) {
      if (this.cps[k] === 0x3a && this.cps[k + 1] === 0x5d) {
        end = k;
        break;
      }
    }
    if (end < 0) return undefined;
    let name = String.fromCodePoint(...this.cps.slice(this.i + 2, end));
    const negated = name.startsWith('^');
    if (negated) name = name.slice(1);
    const ranges = Object.hasOwn(POSIX_CLASSES, name) ? POSIX_CLASSES[name] : undefined;
    if (!ranges) this.fail(`unknown class [:${name}:]`);
    this.i = end + 2;
    return rangesSource(negated ? complement(ranges) : ranges);
  }

  translate(): string {
    let out = '';
    while (this.i < this.cps.length) {
      const c = this.cps[this.i];
      if (c === 0x5b) {
        out += this.charClass();
      } else if (c === 0x5c) {
        out += this.escape();
      } else if (c === 0x2e) {
        // Go's `.` stops at a newline (JavaScript's also stops at \r, U+2028 and U+2029).
        out += '[^\\n]';
        this.i++;
      } else if (c === 0x5e || c === 0x24 || c === 0x28 || c === 0x29 || c === 0x7c || c === 0x2a || c === 0x3f || c === 0x2b) {
        // Anchors, groups, alternation and repetition mean the same in both dialects.
        out += String.fromCodePoint(c);
        this.i++;
      } else {
        out += isAlnum(c) ? String.fromCodePoint(c) : esc(c);
        this.i++;
      }
    }
    return out;
  }

  /** An escape outside a class. */
  escape(): string {
    const e = this.cps[this.i + 1];
    switch (e) {
      case 0x41: this.i += 2; return '^'; // \A
      case 0x7a: this.i += 2; return '$'; // \z (JS `$` without the m flag is the end of input)
      case 0x62: this.i += 2; return '\\b';
      case 0x42: this.i += 2; return '\\B';
      case 0x43: return this.fail('\\C');
      case 0x51: {
        // \Q...\E: literal text.
        this.i += 2;
        let out = '';
        while (this.i < this.cps.length && !(this.cps[this.i] === 0x5c && this.cps[this.i + 1] === 0x45)) {
          out += esc(this.cps[this.i++]);
        }
        if (this.i < this.cps.length) this.i += 2;
        return `(?:${out})`;
      }
      case 0x70: case 0x50:
        return this.unicodeClass();
      case 0x64: case 0x73: case 0x77: case 0x44: case 0x53: case 0x57:
        this.i += 2;
        return `[${rangesSource(perlClass(e)!)}]`;
      default:
        return esc(this.escapeRune());
    }
  }
}

/**
 * A JavaScript RegExp equivalent to the Go regexp `source` (as regexp.Compile with default flags
 * reads it). Throws SyntaxError for what Go would reject.
 */
export function goRegExp(source: string): RegExp {
  return new RegExp(new Translator(source).translate(), 'u');
}

/**
 * goRegExp's regexp as a matcher that never backtracks (see linear-match.ts): what .dockerignore
 * uses, since its patterns and the context's names can both come from someone else.
 */
export function goMatcher(source: string, nativeUpTo?: number): LinearMatcher {
  const translated = new Translator(source).translate();
  // Validates: JavaScript rejects what the translation keeps of what Go would reject.
  new RegExp(translated, 'u');
  return linearMatcher(translated, nativeUpTo);
}
