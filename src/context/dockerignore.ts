/**
 * .dockerignore as Docker reads and applies it (moby/patternmatcher and its ignorefile package).
 *
 * Reading (`readIgnoreFile`, ignorefile.ReadAll): drop a leading BOM, skip lines whose first
 * character is `#`, trim, skip empty lines, split off a leading `!` (an exception, which
 * re-includes), clean the path and drop one leading `/`.
 *
 * Compiling (`compileIgnore`, patternmatcher.New): every pattern must be a valid
 * `filepath.Match` pattern, `!` alone is an error. Each pattern becomes an exact, prefix (`dir/**`),
 * suffix (`**\/name`) or regexp test, built exactly as patternmatcher builds it (so its Go regexp
 * quirks carry over, see goregexp.ts).
 *
 * Matching (`matches`, MatchesOrParentMatches): a pattern applies to a path when it matches the
 * path or any of its ancestor directories; the last pattern that applies decides, and no pattern
 * means "not excluded". Paths are `/`-separated and relative to the context root, passed as is.
 */
import { statSync } from 'node:fs';
import nodePath from 'node:path';
import { BadPatternError, compileGlob } from './glob.ts';
import { goMatcher } from './goregexp.ts';

/** A .dockerignore that Docker would refuse; the message is moby's. */
export class IgnorePatternError extends Error {
  readonly pattern: string;

  constructor(message: string, pattern: string) {
    super(message);
    this.name = 'IgnorePatternError';
    this.pattern = pattern;
  }
}

export type MatchType = 'exactMatch' | 'prefixMatch' | 'suffixMatch' | 'regexpMatch';

export interface IgnorePattern {
  /** The cleaned pattern without its `!`. */
  readonly text: string;
  /** A `!` pattern: it re-includes what earlier patterns excluded. */
  readonly negated: boolean;
  readonly matchType: MatchType;
  /** The Go regexp patternmatcher would compile (regexpMatch only); kept for diagnostics and tests. */
  readonly goRegexp: string | undefined;
  /** Whether this pattern matches exactly `path` (no ancestor check). */
  test(path: string): boolean;
}

export interface IgnoreMatcher {
  readonly patterns: readonly IgnorePattern[];
  /** Whether any pattern is a `!` exception. */
  readonly hasNegations: boolean;
  /** Whether `path` is excluded from the context (MatchesOrParentMatches). */
  matches(path: string): boolean;
  /**
   * For a directory: false only when nothing below it can be in the context, so a walker may skip
   * it. True for a directory that is not excluded, and for an excluded one when a later exception
   * pattern could match something below it (conservative: "could" errs towards true).
   */
  mayContainIncluded(dirPath: string): boolean;
}

// unicode.IsSpace; JavaScript's \s would also strip U+FEFF and miss U+0085.
const EDGE_SPACE =
  /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

/** Go's strings.TrimSpace. */
export function goTrimSpace(s: string): string {
  return s.replace(EDGE_SPACE, '');
}

/**
 * Go's filepath.Clean (POSIX): repeated slashes collapse, `.` elements go, `..` removes the element
 * before it (and is dropped at the root), a trailing slash goes, and the empty result is `.`.
 * node:path.normalize differs (it keeps trailing slashes), hence this.
 */
export function goClean(path: string): string {
  if (path === '') return '.';
  const rooted = path.charCodeAt(0) === 0x2f;
  if (!path.includes('//') && !path.includes('.') && (path.length === 1 || !path.endsWith('/'))) return path;
  const out: string[] = [];
  for (const element of path.split('/')) {
    if (element === '' || element === '.') continue;
    if (element === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(element);
  }
  const joined = (rooted ? '/' : '') + out.join('/');
  return joined === '' ? '.' : joined;
}

/** Go's filepath.Dir: everything before the last slash, cleaned (`.` when there is no slash). */
export function goDir(path: string): string {
  return goClean(path.slice(0, path.lastIndexOf('/') + 1));
}

/** bufio.Scanner's default limit: a longer line makes Docker reject the whole file. */
const MAX_LINE_BYTES = 64 * 1024;

/** ignorefile.ReadAll: the patterns of a .dockerignore file, in order, `!` kept as a prefix. */
export function readIgnoreFile(text: string): string[] {
  const patterns: string[] = [];
  const lines = text.split('\n');
  // bufio.ScanLines: a final newline does not start another line.
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, index) => {
    if (raw.length * 3 >= MAX_LINE_BYTES && Buffer.byteLength(raw) >= MAX_LINE_BYTES) {
      throw new IgnorePatternError('error reading .dockerignore: bufio.Scanner: token too long', raw.slice(0, 80));
    }
    let line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (index === 0 && line.startsWith('\ufeff')) line = line.slice(1);
    if (line.startsWith('#')) return;
    line = goTrimSpace(line);
    if (line === '') return;
    const negated = line.startsWith('!');
    if (negated) line = goTrimSpace(line.slice(1));
    if (line.length > 0) {
      line = goClean(line);
      if (line.length > 1 && line.startsWith('/')) line = line.slice(1);
    }
    patterns.push(negated ? `!${line}` : line);
  });
  return patterns;
}

const REGEXP_ESCAPED = new Set(['.', '+', '(', ')', '|', '{', '}', '$']);

/**
 * Build the test for one cleaned pattern the way patternmatcher's `compile` does: literal
 * characters keep an exact match, `dir/**` is a prefix match, a leading `**` a suffix match, and
 * anything else becomes an anchored regexp: a star is any run of non-slashes, a double star any
 * number of directories, `?` one non-slash, classes and escapes are passed through.
 */
function compileTest(text: string): { matchType: MatchType; goRegexp: string | undefined; test: (path: string) => boolean } {
  const chars = [...text];
  let matchType: MatchType = 'exactMatch';
  let source = '^';
  // text/scanner drops a leading byte order mark.
  let k = chars[0] === '\ufeff' ? 1 : 0;
  for (let step = 0; k < chars.length; step++) {
    const ch = chars[k++];
    if (ch === '*') {
      if (chars[k] === '*') {
        k++;
        if (chars[k] === '/') k++;
        if (k >= chars.length) {
          if (matchType === 'exactMatch') {
            matchType = 'prefixMatch';
          } else {
            source += '.*';
            matchType = 'regexpMatch';
          }
        } else {
          source += '(.*/)?';
          matchType = 'regexpMatch';
        }
        if (step === 0) matchType = 'suffixMatch';
      } else {
        source += '[^/]*';
        matchType = 'regexpMatch';
      }
    } else if (ch === '?') {
      source += '[^/]';
      matchType = 'regexpMatch';
    } else if (REGEXP_ESCAPED.has(ch)) {
      source += `\\${ch}`;
    } else if (ch === '\\') {
      if (k < chars.length) {
        source += `\\${chars[k++]}`;
        matchType = 'regexpMatch';
      } else {
        source += '\\';
      }
    } else if (ch === '[' || ch === ']') {
      source += ch;
      matchType = 'regexpMatch';
    } else {
      source += ch;
    }
  }

  switch (matchType) {
    case 'exactMatch':
      return { matchType, goRegexp: undefined, test: (path) => path === text };
    case 'prefixMatch': {
      const prefix = text.slice(0, -2);
      return { matchType, goRegexp: undefined, test: (path) => path.startsWith(prefix) };
    }
    case 'suffixMatch': {
      const suffix = text.slice(2);
      // `**/foo` also matches `foo` itself.
      const alone = suffix.startsWith('/') ? suffix.slice(1) : undefined;
      return { matchType, goRegexp: undefined, test: (path) => path.endsWith(suffix) || path === alone };
    }
    case 'regexpMatch': {
      source += '$';
      let re: { test(path: string): boolean };
      try {
        re = goMatcher(source);
      } catch {
        // patternmatcher reports a regexp that does not compile as filepath.ErrBadPattern.
        throw new IgnorePatternError('syntax error in pattern', text);
      }
      return { matchType, goRegexp: source, test: (path) => re.test(path) };
    }
  }
}

/** One pattern as patternmatcher.New prepares it; undefined for a blank one. */
export function compileIgnorePattern(raw: string): IgnorePattern | undefined {
  let text = goTrimSpace(raw);
  if (text === '') return undefined;
  text = goClean(text);
  const negated = text.startsWith('!');
  if (negated) {
    if (text.length === 1) throw new IgnorePatternError('illegal exclusion pattern: "!"', raw);
    text = text.slice(1);
  }
  try {
    compileGlob(text);
  } catch (error) {
    if (error instanceof BadPatternError) throw new IgnorePatternError(error.message, raw);
    throw error;
  }
  return { text, negated, ...compileTest(text) };
}

/** The ancestor directories of `path` as MatchesOrParentMatches tries them: `a/b/c` -> `a`, `a/b`. */
function ancestors(path: string): string[] {
  const parent = goDir(path);
  if (parent === '.') return [];
  const out: string[] = [];
  for (let i = parent.indexOf('/'); i >= 0; i = parent.indexOf('/', i + 1)) out.push(parent.slice(0, i));
  out.push(parent);
  return out;
}

function applies(pattern: IgnorePattern, path: string, parents: readonly string[]): boolean {
  if (pattern.test(path)) return true;
  for (const parent of parents) if (pattern.test(parent)) return true;
  return false;
}

/**
 * A test for "could `pattern` match some path strictly below the directory with these segments".
 * Patterns are compared segment by segment up to the first segment that can span slashes (`**`,
 * a class, an escape at a segment's end); past that point anything may match, so the answer is yes.
 */
function belowTest(pattern: IgnorePattern): (dirSegments: readonly string[]) => boolean {
  const segments = pattern.text.split('/');
  let wide = segments.findIndex((s) => s.includes('**') || s.includes('[') || s.endsWith('\\'));
  const exactDepth = wide < 0;
  if (exactDepth) wide = segments.length;
  let tests: ((segment: string) => boolean)[];
  try {
    tests = segments.slice(0, wide).map((segment) => compileTest(segment).test);
  } catch {
    return () => true;
  }
  return (dirSegments) => {
    // Without a spanning segment the pattern only matches paths exactly as deep as it is.
    if (exactDepth && segments.length <= dirSegments.length) return false;
    const checked = Math.min(tests.length, dirSegments.length);
    for (let i = 0; i < checked; i++) if (!tests[i](dirSegments[i])) return false;
    return true;
  };
}

/** patternmatcher.New: compile the patterns (blank ones are dropped). Throws IgnorePatternError. */
export function compileIgnore(patterns: readonly string[]): IgnoreMatcher {
  const compiled: IgnorePattern[] = [];
  for (const raw of patterns) {
    const pattern = compileIgnorePattern(raw);
    if (pattern) compiled.push(pattern);
  }

  const matches = (path: string): boolean => {
    let parents: string[] | undefined;
    let excluded = false;
    for (const pattern of compiled) {
      // A pattern that cannot change the answer is not evaluated, as in moby.
      if (pattern.negated !== excluded) continue;
      let hit = pattern.test(path);
      if (!hit) {
        parents ??= ancestors(path);
        for (const parent of parents) {
          if (pattern.test(parent)) {
            hit = true;
            break;
          }
        }
      }
      if (hit) excluded = !pattern.negated;
    }
    return excluded;
  };

  // Built on first use: only walkers that meet an excluded directory need them.
  const below: (((dirSegments: readonly string[]) => boolean) | undefined)[] = [];
  const mayContainIncluded = (dirPath: string): boolean => {
    const parents = ancestors(dirPath);
    let last = -1;
    for (let k = compiled.length - 1; k >= 0; k--) {
      if (applies(compiled[k], dirPath, parents)) {
        last = k;
        break;
      }
    }
    if (last < 0 || compiled[last].negated) return true;
    // Patterns up to `last` apply to everything below too; only a later exception can re-include,
    // and it must match below the directory (matching the directory or above would apply to it).
    const dirSegments = dirPath.split('/');
    for (let k = last + 1; k < compiled.length; k++) {
      if (!compiled[k].negated) continue;
      below[k] ??= belowTest(compiled[k]);
      if (below[k]!(dirSegments)) return true;
    }
    return false;
  };

  return {
    patterns: compiled,
    hasNegations: compiled.some((p) => p.negated),
    matches,
    mayContainIncluded,
  };
}

/** A synchronous stat: two per build, each quicker than an async stat's thread-pool round trip. */
async function isFile(file: string): Promise<boolean> {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * The ignore file BuildKit would use: `<Dockerfile>.dockerignore` next to the Dockerfile wins over
 * `<context>/.dockerignore`. Undefined when there is neither. A Dockerfile read from stdin (`-`) has
 * no own ignore file.
 */
export async function findIgnoreFile(contextDir: string, dockerfilePath?: string): Promise<string | undefined> {
  if (dockerfilePath !== undefined && dockerfilePath !== '-') {
    const own = `${nodePath.resolve(dockerfilePath)}.dockerignore`;
    if (await isFile(own)) return own;
  }
  const shared = nodePath.join(nodePath.resolve(contextDir), '.dockerignore');
  return (await isFile(shared)) ? shared : undefined;
}
