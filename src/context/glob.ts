/**
 * Go's `path/filepath.Match` on a POSIX system: the wildcard matching BuildKit applies to each
 * path component of a COPY/ADD source.
 *
 * `*` is any run of non-`/` characters, `?` one non-`/` character, `[...]`/`[^...]` a character
 * class with ranges (which, as in Go, may match `/`), and `\` makes the next character literal
 * (also inside classes). The pattern must match the whole name. A malformed pattern (`[`, `[]a]`,
 * `[-]`, `[a-]`, a trailing `\`, ...) is an error whatever the name, like Go since 1.16.
 *
 * Go compares UTF-8 bytes, with `?` and classes taking a whole rune; so does this code, which is
 * why a name is encoded to UTF-8 before matching.
 */

/** filepath.ErrBadPattern. */
export class BadPatternError extends Error {
  constructor() {
    super('syntax error in pattern');
    this.name = 'BadPatternError';
  }
}

const STAR = 0x2a;
const QUESTION = 0x3f;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const CARET = 0x5e;
const DASH = 0x2d;
const BACKSLASH = 0x5c;
const SLASH = 0x2f;
const RUNE_ERROR = 0xfffd;

const encoder = new TextEncoder();

/** Decode the UTF-8 rune at `i`: [rune, byte length]; invalid input is U+FFFD of length 1. */
function decodeRune(b: Uint8Array, i: number, end: number): [number, number] {
  const c0 = b[i];
  if (c0 < 0x80) return [c0, 1];
  const need = c0 >= 0xf0 && c0 < 0xf5 ? 4 : c0 >= 0xe0 ? 3 : c0 >= 0xc2 ? 2 : 0;
  if (need === 0 || i + need > end || (need === 4 && c0 >= 0xf8)) return [RUNE_ERROR, 1];
  let cp = need === 2 ? c0 & 0x1f : need === 3 ? c0 & 0x0f : c0 & 0x07;
  for (let k = 1; k < need; k++) {
    const c = b[i + k];
    if ((c & 0xc0) !== 0x80) return [RUNE_ERROR, 1];
    cp = (cp << 6) | (c & 0x3f);
  }
  const min = need === 2 ? 0x80 : need === 3 ? 0x800 : 0x10000;
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return [RUNE_ERROR, 1];
  return [cp, need];
}

/** A pattern split into chunks: each is a run of stars (maybe none) and the text up to the next star. */
interface Chunk {
  star: boolean;
  start: number;
  end: number;
}

function scanChunks(p: Uint8Array): Chunk[] {
  const chunks: Chunk[] = [];
  let i = 0;
  while (i < p.length) {
    let star = false;
    while (i < p.length && p[i] === STAR) {
      star = true;
      i++;
    }
    const start = i;
    let inRange = false;
    for (; i < p.length; i++) {
      const c = p[i];
      if (c === BACKSLASH) {
        if (i + 1 < p.length) i++;
      } else if (c === OPEN) {
        inRange = true;
      } else if (c === CLOSE) {
        inRange = false;
      } else if (c === STAR && !inRange) {
        break;
      }
    }
    chunks.push({ star, start, end: i });
  }
  return chunks;
}

/** One (possibly escaped) rune of a class at `i`; returns [rune, next index] or throws. */
function classRune(p: Uint8Array, i: number, end: number): [number, number] {
  if (i >= end || p[i] === DASH || p[i] === CLOSE) throw new BadPatternError();
  if (p[i] === BACKSLASH) {
    i++;
    if (i >= end) throw new BadPatternError();
  }
  const [r, n] = decodeRune(p, i, end);
  if (r === RUNE_ERROR && n === 1) throw new BadPatternError();
  if (i + n >= end) throw new BadPatternError();
  return [r, i + n];
}

/**
 * Match one chunk against the start of `s` (from `si`). Returns the index after the match or -1.
 * The whole chunk is always parsed, so a malformed chunk throws even when the name has run out.
 */
function matchChunk(p: Uint8Array, chunk: Chunk, s: Uint8Array, si: number): number {
  let failed = false;
  let i = chunk.start;
  const end = chunk.end;
  while (i < end) {
    if (!failed && si >= s.length) failed = true;
    const c = p[i];
    if (c === OPEN) {
      let r = 0;
      if (!failed) {
        const [rune, n] = decodeRune(s, si, s.length);
        r = rune;
        si += n;
      }
      i++;
      let negated = false;
      if (i < end && p[i] === CARET) {
        negated = true;
        i++;
      }
      let match = false;
      let ranges = 0;
      for (;;) {
        if (i < end && p[i] === CLOSE && ranges > 0) {
          i++;
          break;
        }
        let lo: number;
        [lo, i] = classRune(p, i, end);
        let hi = lo;
        if (p[i] === DASH) [hi, i] = classRune(p, i + 1, end);
        if (lo <= r && r <= hi) match = true;
        ranges++;
      }
      if (match === negated) failed = true;
    } else if (c === QUESTION) {
      if (!failed) {
        if (s[si] === SLASH) failed = true;
        si += decodeRune(s, si, s.length)[1];
      }
      i++;
    } else {
      if (c === BACKSLASH) {
        i++;
        if (i >= end) throw new BadPatternError();
      }
      if (!failed) {
        if (p[i] !== s[si]) failed = true;
        si++;
      }
      i++;
    }
  }
  return failed ? -1 : si;
}

/** Throws BadPatternError unless every chunk of the pattern parses. */
function validate(p: Uint8Array, chunks: Chunk[]): void {
  const empty = new Uint8Array(0);
  for (const chunk of chunks) matchChunk(p, chunk, empty, 0);
}

function matchBytes(p: Uint8Array, chunks: Chunk[], name: Uint8Array): boolean {
  let ni = 0;
  chunkLoop: for (let k = 0; k < chunks.length; k++) {
    const chunk = chunks[k];
    const last = k === chunks.length - 1;
    // A trailing star matches the rest of the name unless it has a slash.
    if (chunk.star && chunk.start === chunk.end) return !name.subarray(ni).includes(SLASH);
    const t = matchChunk(p, chunk, name, ni);
    // The last chunk must use up the name; otherwise a later position may still work.
    if (t >= 0 && (t === name.length || !last)) {
      ni = t;
      continue;
    }
    if (chunk.star) {
      for (let i = ni; i < name.length && name[i] !== SLASH; i++) {
        const t2 = matchChunk(p, chunk, name, i + 1);
        if (t2 >= 0) {
          if (last && t2 < name.length) continue;
          ni = t2;
          continue chunkLoop;
        }
      }
    }
    return false;
  }
  return ni === name.length;
}

/** A compiled filepath.Match pattern: validated once, then matched against names. */
export interface Glob {
  readonly pattern: string;
  match(name: string): boolean;
}

/** Compile `pattern`; throws BadPatternError for a malformed one. */
export function compileGlob(pattern: string): Glob {
  const p = encoder.encode(pattern);
  const chunks = scanChunks(p);
  validate(p, chunks);
  return { pattern, match: (name: string) => matchBytes(p, chunks, encoder.encode(name)) };
}

const globCache = new Map<string, Glob>();
const GLOB_CACHE_LIMIT = 1024;

/** filepath.Match(pattern, name); throws BadPatternError for a malformed pattern. */
export function globMatch(pattern: string, name: string): boolean {
  let glob = globCache.get(pattern);
  if (!glob) {
    glob = compileGlob(pattern);
    if (globCache.size >= GLOB_CACHE_LIMIT) globCache.clear();
    globCache.set(pattern, glob);
  }
  return glob.match(name);
}

/**
 * Whether a COPY/ADD source needs wildcard matching: an unescaped `*`, `?` or `[` (BuildKit's
 * `containsWildcards`; a `\` escapes the next character).
 */
export function hasGlobMeta(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === STAR || c === QUESTION || c === OPEN) return true;
  }
  return false;
}
