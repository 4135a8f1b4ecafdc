/**
 * Argument-level helpers of BuildKit's Dockerfile parser: Go's notion of white space, word splitting
 * that keeps quotes (`parseWords`), blank splitting (`reWhitespace`) and exec-form JSON detection.
 */
import { parseJsonArrayBatchCst, parseJsonArrayCst, type JsonArrayCst } from '../../grammar/index.ts';
import type { IToken } from 'chevrotain';

/** Go's unicode.IsSpace. (JavaScript's \s differs: it lacks U+0085 and includes U+FEFF.) */
export function isGoSpace(c: number): boolean {
  if (c <= 0xff) return c === 32 || (c >= 9 && c <= 13) || c === 0x85 || c === 0xa0;
  return c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000;
}

/** Index of the first character of `s` at or after `from` that is not Go white space. */
export function skipGoSpace(s: string, from = 0): number {
  let i = from;
  while (i < s.length && isGoSpace(s.charCodeAt(i))) i++;
  return i;
}

/** Index just past the last character of `s` (before `to`) that is not Go white space. */
export function trimEndGoSpace(s: string, to = s.length): number {
  let i = to;
  while (i > 0 && isGoSpace(s.charCodeAt(i - 1))) i--;
  return i;
}

/** strings.TrimSpace. */
export function trimGoSpace(s: string): string {
  const start = skipGoSpace(s);
  return s.slice(start, Math.max(start, trimEndGoSpace(s)));
}

const BLANKS = /[\t\v\f\r ]+/;

/** `reWhitespace.Split(s, -1)` for a trimmed, non-empty string (FROM, EXPOSE, ADD/COPY shell form). */
export function splitBlanks(s: string): string[] {
  return s === '' ? [] : s.split(BLANKS);
}

/** `reWhitespace.Split(s, 2)`: the text before the first blank run and everything after it. */
export function splitFirstBlank(s: string): string[] {
  const m = BLANKS.exec(s);
  return m === null ? [s] : [s.slice(0, m.index), s.slice(m.index + m[0].length)];
}

/**
 * BuildKit's parseWords: splits on white space, keeping quotes and escape characters in the words
 * (they are removed later, by the shell lexer). Quoted blanks stay in the word; the escape token
 * protects the next character outside single quotes. Since nothing but an escape token at the very
 * end of the text is ever dropped, every word is a slice of `rest`. `limit` stops after that many
 * words.
 */
export function parseWords(rest: string, escape = '\\', limit = Infinity): string[] {
  const esc = escape.charCodeAt(0);
  const words: string[] = [];
  const n = rest.length;
  let pos = 0;
  while (pos < n && words.length < limit) {
    while (pos < n && isGoSpace(rest.charCodeAt(pos))) pos++;
    if (pos >= n) break;
    const start = pos;
    let quote = 0;
    for (; pos < n; pos++) {
      const c = rest.charCodeAt(pos);
      if (quote === 0) {
        if (isGoSpace(c)) break;
        if (c === 39 || c === 34) quote = c;
        else if (c === esc) pos++; // keeps the next character, even a quote or a blank
      } else if (c === quote) {
        quote = 0;
      } else if (c === esc && quote !== 39) {
        pos++;
      }
    }
    // An escape token as the last character of the text is dropped (pos ran past the end).
    const end = pos > n ? n - 1 : pos;
    if (end > start) words.push(rest.slice(start, end));
  }
  return words;
}

export const NOT_STRING_ARRAY = 'when using JSON array syntax, arrays must be comprised of strings only';

/** Result of trying the exec (JSON) form on an instruction's arguments. */
export type JsonArrayResult = { kind: 'strings'; values: string[] } | { kind: 'not-json' } | { kind: 'not-strings' };

// The common exec form, a flat array of strings, in exactly JSON's syntax. Texts that match are
// decoded directly; everything else (other element types, nesting, invalid JSON) goes through the
// Chevrotain JSON grammar, which is authoritative.
const JSON_STRING = '"(?:[^"\\\\\\u0000-\\u001f]|\\\\(?:["\\\\/bfnrt]|u[0-9a-fA-F]{4}))*"';
const JSON_WS = '[ \\t\\n\\r]*';
const FLAT_STRING_ARRAY = new RegExp(
  `^\\[${JSON_WS}(?:${JSON_STRING}(?:${JSON_WS},${JSON_WS}${JSON_STRING})*)?${JSON_WS}\\]${JSON_WS}$`,
);
function flatStringArray(text: string): string[] | null {
  if (!FLAT_STRING_ARRAY.test(text)) return null;
  // Valid, so every `"` outside a string opens one, and inside one only `\"` is not its end.
  const values: string[] = [];
  for (let i = text.indexOf('"'); i >= 0; i = text.indexOf('"', i + 1)) {
    const start = i;
    for (i++; text.charCodeAt(i) !== 34; i++) if (text.charCodeAt(i) === 92) i++;
    values.push(decodeJsonString(text.slice(start, i + 1)));
  }
  return values;
}

/**
 * BuildKit's parseJSON: after leading white space the text must start with `[` and be exactly one
 * JSON array; every element must be a string (a well-formed array with anything else in it is an
 * error, not a fallback to the shell form).
 */
export function parseJsonArray(text: string): JsonArrayResult {
  const start = skipGoSpace(text);
  if (text.charCodeAt(start) !== 91) return { kind: 'not-json' };
  const trimmed = start === 0 ? text : text.slice(start);
  const flat = flatStringArray(trimmed);
  if (flat !== null) return { kind: 'strings', values: flat };
  if (nestingDepth(trimmed, GRAMMAR_MAX_NESTING) > GRAMMAR_MAX_NESTING) return deepArrayResult(trimmed);
  const parsed = parseJsonArrayCst(trimmed);
  if (parsed === null || hasOverflowingNumber(parsed.tokens)) return { kind: 'not-json' };
  return arrayResult(parsed.array);
}

function arrayResult(array: JsonArrayCst): JsonArrayResult {
  const values = stringElements(array);
  return values === null ? { kind: 'not-strings' } : { kind: 'strings', values };
}

/**
 * parseJsonArray for many texts at once: one Chevrotain pass when they are all well-formed arrays
 * (the usual case), one pass per text otherwise.
 */
export function parseJsonArrays(texts: string[]): JsonArrayResult[] {
  const results: JsonArrayResult[] = new Array(texts.length);
  const rest: number[] = [];
  const candidates: string[] = [];
  for (let i = 0; i < texts.length; i++) {
    const text = texts[i];
    const start = skipGoSpace(text);
    if (text.charCodeAt(start) !== 91) {
      results[i] = { kind: 'not-json' };
      continue;
    }
    const trimmed = start === 0 ? text : text.slice(start);
    const flat = flatStringArray(trimmed);
    if (flat !== null) {
      results[i] = { kind: 'strings', values: flat };
    } else if (nestingDepth(trimmed, GRAMMAR_MAX_NESTING) > GRAMMAR_MAX_NESTING) {
      results[i] = deepArrayResult(trimmed);
    } else {
      rest.push(i);
      candidates.push(trimmed);
    }
  }
  if (candidates.length === 0) return results;
  const parsed = parseJsonArrayBatchCst(candidates);
  const batchOk = parsed !== null && !hasOverflowingNumber(parsed.tokens);
  for (let k = 0; k < rest.length; k++) {
    results[rest[k]] = batchOk ? arrayResult(parsed.arrays[k]) : parseJsonArray(candidates[k]);
  }
  return results;
}

/**
 * Arrays nested deeper than this skip the Chevrotain grammar: its recursive descent ran out of
 * stack between 400 and 800 levels. Exec forms are flat (depth 1); anything nested is an error
 * or a shell form whatever the depth, so the limit only has to be far above 1 and far below that.
 */
const GRAMMAR_MAX_NESTING = 64;
/** Go's encoding/json refuses documents nested deeper (its scanner's maxNestingDepth). */
const GO_MAX_NESTING = 10000;

/** How deeply arrays and objects nest in `text` (strings skipped); counting stops above `stopAbove`. */
function nestingDepth(text: string, stopAbove: number): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      for (i++; i < text.length && text.charCodeAt(i) !== 34; i++) if (text.charCodeAt(i) === 92) i++;
    } else if (c === 91 || c === 123) {
      if (++depth > max && (max = depth) > stopAbove) return max;
    } else if (c === 93 || c === 125) {
      depth--;
    }
  }
  return max;
}

/**
 * parseJsonArray for an array nested too deeply for the grammar. V8's JSON.parse is iterative and
 * accepts exactly RFC 8259 as the grammar does, except that it reads 1e999 as Infinity; Go also
 * stops at GO_MAX_NESTING levels, and BuildKit then falls back to the shell form.
 */
function deepArrayResult(text: string): JsonArrayResult {
  if (nestingDepth(text, GO_MAX_NESTING) > GO_MAX_NESTING) return NOT_JSON_RESULT;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return NOT_JSON_RESULT;
  }
  if (!Array.isArray(value) || hasOverflowingNumberText(text)) return NOT_JSON_RESULT;
  return value.every((v) => typeof v === 'string') ? { kind: 'strings', values: value as string[] } : { kind: 'not-strings' };
}

const NOT_JSON_RESULT: JsonArrayResult = { kind: 'not-json' };
const JSON_NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** hasOverflowingNumber for valid JSON text: the numbers outside strings. */
function hasOverflowingNumberText(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      for (i++; text.charCodeAt(i) !== 34; i++) if (text.charCodeAt(i) === 92) i++;
    } else if (c === 45 || (c >= 48 && c <= 57)) {
      JSON_NUMBER.lastIndex = i;
      const number = JSON_NUMBER.exec(text)![0];
      if (!Number.isFinite(Number(number))) return true;
      i += number.length - 1;
    }
  }
  return false;
}

/** Go cannot decode 1e999 into a float64, so such a document is not JSON to BuildKit either. */
function hasOverflowingNumber(tokens: IToken[]): boolean {
  for (const t of tokens) {
    if (t.tokenType.name === 'NumberLiteral' && !Number.isFinite(Number(t.image))) return true;
  }
  return false;
}

function stringElements(array: JsonArrayCst): string[] | null {
  const out: string[] = [];
  for (const value of array.children.value ?? []) {
    const str = value.children.StringLiteral?.[0];
    if (str === undefined) return null;
    out.push(decodeJsonString(str.image));
  }
  return out;
}

const SIMPLE_ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** Decodes a lexically valid JSON string literal; unpaired surrogate escapes become U+FFFD as in Go. */
export function decodeJsonString(literal: string): string {
  const body = literal.slice(1, -1);
  if (!body.includes('\\')) return body;
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const kind = body[i + 1];
    if (kind !== 'u') {
      out += SIMPLE_ESCAPES[kind];
      i++;
      continue;
    }
    const unit = parseInt(body.slice(i + 2, i + 6), 16);
    i += 5;
    if (unit >= 0xd800 && unit < 0xdc00 && body[i + 1] === '\\' && body[i + 2] === 'u') {
      const low = parseInt(body.slice(i + 3, i + 7), 16);
      if (low >= 0xdc00 && low < 0xe000) {
        out += String.fromCharCode(unit, low);
        i += 6;
        continue;
      }
    }
    out += unit >= 0xd800 && unit < 0xe000 ? '\ufffd' : String.fromCharCode(unit);
  }
  return out;
}
