/**
 * Word expansion exactly as BuildKit's Dockerfile shell lexer does it (frontend/dockerfile/shell).
 *
 * One left-to-right pass over the word: quotes are removed (single quotes keep everything literal,
 * double quotes keep everything but `$` and escapes of `"`, `$` and the escape character), the escape
 * character (`\` or `` ` ``) makes the next character literal, and `$NAME` / `${NAME...}` expand from
 * the environment. `expandWords` also splits the result into words on unquoted white space, where
 * white space that came out of a variable splits too but quoted text never does.
 *
 * Kept from BuildKit on purpose, because Docker does it: an unknown modifier, `${}`, `${:...}` and
 * unbalanced quotes are errors; `$1`, `$@`, `$#` and friends are ordinary (always unset) names;
 * `${VAR:#p}` and `${VAR:%p}` are errors; the pattern of `#`, `%` and `/` keeps its escapes so the
 * pattern matcher can tell `\*` from `*`.
 */
import { EOF, goQuote, isGoDigit, isGoLetter, isGoSpace } from './gotext.ts';
import { PatternError, replaceAll, replaceFirst, trimPrefix, trimSuffix } from './pattern.ts';

export interface ShellOptions {
  /** The escape character: `\` (default) or `` ` `` after `# escape=`` ` ``. */
  escape?: '\\' | '`';
  /** Leave references to unset variables as written (`$X`, `${X:-w}`), for a later pass. */
  skipUnsetEnv?: boolean;
  /** Keep the quote characters in the result (the words are still unquoted for splitting). */
  rawQuotes?: boolean;
  /**
   * Treat quotes as ordinary characters (BuildKit's SkipProcessQuotes): heredoc bodies are
   * expanded this way, so `"${X}"` keeps its quotes and `'$X'` is still expanded.
   */
  skipProcessQuotes?: boolean;
}

/** Variable name -> value; the caller has already merged later definitions over earlier ones. */
export type ShellEnv = ReadonlyMap<string, string>;

/** A word that cannot be expanded. The message is BuildKit's; callers attach the source range. */
export class ShellExpansionError extends Error {
  /** The reason without the `failed to process "<word>": ` prefix. */
  readonly reason: string;
  /** The word as written. */
  readonly word: string;
  /** Where in `word` the problem is, when the lexer knows (UTF-16 offset), for a finer location. */
  readonly offset: number | undefined;

  constructor(word: string, reason: string, offset?: number) {
    // A word too deeply nested is long by construction: quoting all of it would bury the reason.
    const shown = offset !== undefined && word.length > 80 ? `${word.slice(0, 60)}...` : word;
    super(`failed to process ${goQuote(shown)}: ${reason}`);
    this.name = 'ShellExpansionError';
    this.word = word;
    this.reason = reason;
    this.offset = offset;
  }
}

/** An error inside the pass; turned into ShellExpansionError once, at the top. */
class SyntaxProblem extends Error {
  readonly offset: number | undefined;

  constructor(message: string, offset?: number) {
    super(message);
    this.offset = offset;
  }
}

/**
 * How deeply `${...}` may nest inside `${...}`. Each level is three frames of this recursive
 * lexer, and Node's default stack ran out at about 1,700 levels (less when the lexer is called
 * from deep inside other code), with a RangeError that names no line. Real Dockerfiles nest two
 * or three levels; 100 is far above that and far below the stack's end. BuildKit (Go, growable
 * stacks) has no limit; a Dockerfile that hits this one is an attack or a generator gone wrong.
 */
export const MAX_EXPANSION_DEPTH = 100;

const DOLLAR = 0x24;
const SINGLE_QUOTE = 0x27;
const DOUBLE_QUOTE = 0x22;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const COLON = 0x3a;
const SLASH = 0x2f;
const UNDERSCORE = 0x5f;

/** The special parameters of POSIX sh (`$@`, `$#`, ...): a one-character name, never set here. */
function isSpecialParameter(cp: number): boolean {
  switch (cp) {
    case 0x40: case 0x2a: case 0x23: case 0x3f: case 0x2d: case DOLLAR: case 0x21: case 0x30:
      return true;
    default:
      return false;
  }
}

function runeText(cp: number): string {
  return cp === EOF ? '\ufffd' : String.fromCodePoint(cp);
}

/** Words being collected for expandWords. */
interface WordSplitter {
  current: string;
  words: string[];
  inWord: boolean;
}

/** Unquoted text: white space ends the current word (if it has text) and is dropped. */
function addSplitting(w: WordSplitter, text: string): void {
  for (let i = 0; i < text.length; ) {
    const cp = text.codePointAt(i)!;
    const width = cp > 0xffff ? 2 : 1;
    if (!isGoSpace(cp)) {
      w.current += text.slice(i, i + width);
      w.inWord = true;
    } else if (w.inWord && w.current.length > 0) {
      w.words.push(w.current);
      w.current = '';
      w.inWord = false;
    }
    i += width;
  }
}

/** Quoted or escaped text: kept whole, and it makes a word even when empty (`""` alone does not). */
function addLiteral(w: WordSplitter, text: string): void {
  w.current += text;
  w.inWord = true;
}

function finishWords(w: WordSplitter): string[] {
  if (w.current.length > 0) {
    w.words.push(w.current);
    w.current = '';
    w.inWord = false;
  }
  return w.words;
}

class Lexer {
  readonly src: string;
  pos: number;
  readonly env: ShellEnv;
  readonly escape: number;
  readonly skipUnsetEnv: boolean;
  readonly rawQuotes: boolean;
  readonly skipProcessQuotes: boolean;
  /** Whether the escape character is kept (inside the pattern parts of `${...}`). */
  rawEscapes = false;
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();
  /** How many `${...}` enclose the current position. */
  depth = 0;

  constructor(src: string, env: ShellEnv, options: ShellOptions) {
    this.src = src;
    // Go's text/scanner skips a byte order mark at the very start.
    this.pos = src.charCodeAt(0) === 0xfeff ? 1 : 0;
    this.env = env;
    this.escape = (options.escape ?? '\\').charCodeAt(0);
    this.skipUnsetEnv = options.skipUnsetEnv ?? false;
    this.rawQuotes = options.rawQuotes ?? false;
    this.skipProcessQuotes = options.skipProcessQuotes ?? false;
  }

  peek(): number {
    return this.pos < this.src.length ? this.src.codePointAt(this.pos)! : EOF;
  }

  next(): number {
    if (this.pos >= this.src.length) return EOF;
    const cp = this.src.codePointAt(this.pos)!;
    this.pos += cp > 0xffff ? 2 : 1;
    return cp;
  }

  lookup(name: string): string | undefined {
    const value = this.env.get(name);
    if (value === undefined) this.unmatched.add(name);
    else this.matched.add(name);
    return value;
  }

  /**
   * Expand up to `stop` (consumed) or the end of input. `words` collects the split words when the
   * caller wants them; nested calls (inside `${...}`) pass none.
   */
  processUntil(stop: number, rawEscapes: boolean, words?: WordSplitter): string {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      let result = '';
      for (let ch = this.peek(); ch !== EOF; ch = this.peek()) {
        if (stop !== EOF && ch === stop) {
          this.next();
          return result;
        }
        if (ch === DOLLAR || (!this.skipProcessQuotes && (ch === SINGLE_QUOTE || ch === DOUBLE_QUOTE))) {
          const text = ch === DOLLAR ? this.dollar() : ch === SINGLE_QUOTE ? this.singleQuoted() : this.doubleQuoted();
          result += text;
          if (words) {
            if (ch === DOLLAR) addSplitting(words, text);
            else addLiteral(words, text);
          }
          continue;
        }
        this.next();
        if (ch === this.escape) {
          if (this.rawEscapes) {
            result += String.fromCodePoint(ch);
            if (words) addLiteral(words, String.fromCodePoint(ch));
          }
          const escaped = this.next();
          // An escape character at the very end is dropped.
          if (escaped === EOF) break;
          const text = String.fromCodePoint(escaped);
          result += text;
          if (words) addLiteral(words, text);
          continue;
        }
        const text = String.fromCodePoint(ch);
        result += text;
        if (words) addSplitting(words, text);
      }
      if (stop !== EOF) {
        throw new SyntaxProblem(`unexpected end of statement while looking for matching ${String.fromCodePoint(stop)}`);
      }
      return result;
    } finally {
      this.rawEscapes = saved;
    }
  }

  singleQuoted(): string {
    this.next();
    let result = this.rawQuotes ? "'" : '';
    for (;;) {
      const ch = this.next();
      if (ch === EOF) throw new SyntaxProblem('unexpected end of statement while looking for matching single-quote');
      if (ch === SINGLE_QUOTE) return this.rawQuotes ? result + "'" : result;
      result += String.fromCodePoint(ch);
    }
  }

  doubleQuoted(): string {
    this.next();
    let result = this.rawQuotes ? '"' : '';
    for (;;) {
      const ch = this.peek();
      if (ch === EOF) throw new SyntaxProblem('unexpected end of statement while looking for matching double-quote');
      if (ch === DOUBLE_QUOTE) {
        this.next();
        return this.rawQuotes ? result + '"' : result;
      }
      if (ch === DOLLAR) {
        result += this.dollar();
        continue;
      }
      let out = this.next();
      if (out === this.escape) {
        if (this.rawEscapes) result += String.fromCodePoint(out);
        const following = this.peek();
        // A trailing escape is dropped; the loop then reports the missing quote.
        if (following === EOF) continue;
        // Only `"`, `$` and the escape character can be escaped; otherwise the escape stays.
        if (following === DOUBLE_QUOTE || following === DOLLAR || following === this.escape) out = this.next();
      }
      result += String.fromCodePoint(out);
    }
  }

  /** A name after `$` or `${`: a run of digits, one special parameter, or letters/digits/`_`. */
  name(): string {
    const start = this.pos;
    const first = this.peek();
    if (first === EOF) return '';
    if (isGoDigit(first)) {
      while (isGoDigit(this.peek())) this.next();
      return this.src.slice(start, this.pos);
    }
    if (isSpecialParameter(first)) {
      this.next();
      return this.src.slice(start, this.pos);
    }
    for (let ch = first; ch !== EOF && (isGoLetter(ch) || isGoDigit(ch) || ch === UNDERSCORE); ch = this.peek()) {
      this.next();
    }
    return this.src.slice(start, this.pos);
  }

  dollar(): string {
    const start = this.pos;
    this.next();
    if (this.peek() !== OPEN_BRACE) {
      const name = this.name();
      if (name === '') return '$';
      const value = this.lookup(name);
      if (value === undefined) return this.skipUnsetEnv ? `$${name}` : '';
      return value;
    }

    this.next();
    const first = this.peek();
    if (first === EOF) throw new SyntaxProblem("syntax error: missing '}'");
    if (this.depth >= MAX_EXPANSION_DEPTH) {
      throw new SyntaxProblem(`variable expansions nested more than ${MAX_EXPANSION_DEPTH} levels deep`, start);
    }
    if (first === OPEN_BRACE || first === CLOSE_BRACE || first === COLON) {
      throw new SyntaxProblem('syntax error: bad substitution');
    }
    const name = this.name();
    let modifier = this.next();
    // BuildKit reports "unsupported modifier (\ufffd)" here; the missing brace is the real problem.
    if (modifier === EOF) throw new SyntaxProblem("syntax error: missing '}'");
    let written = runeText(modifier);

    if (modifier === CLOSE_BRACE) {
      const value = this.lookup(name);
      if (value === undefined) return this.skipUnsetEnv ? `\${${name}}` : '';
      return value;
    }
    if (modifier === SLASH) return this.substitute(name);

    let nullIsUnset = false;
    if (modifier === COLON) {
      // Whatever follows the colon is the operator; an unknown one is reported only after the
      // word has been read (so a missing `}` wins, and skipUnsetEnv leaves it alone).
      nullIsUnset = true;
      modifier = this.next();
      written += runeText(modifier);
    } else if (modifier !== 0x2b && modifier !== 0x2d && modifier !== 0x3f && modifier !== 0x23 && modifier !== 0x25) {
      throw new SyntaxProblem(`unsupported modifier (${written}) in substitution`);
    }
    const isTrim = modifier === 0x23 || modifier === 0x25; // # or %
    if (nullIsUnset && isTrim) throw new SyntaxProblem(`unsupported modifier (${written}) in substitution`);

    let word = this.nested(CLOSE_BRACE, isTrim, "syntax error: missing '}'");
    const value = this.lookup(name);
    if (value === undefined && this.skipUnsetEnv) return `\${${name}${written}${word}}`;
    const unset = value === undefined || (nullIsUnset && value === '');

    switch (modifier) {
      case 0x2d: // -
        return unset ? word : value!;
      case 0x2b: // +
        return unset ? '' : word;
      case 0x3f: // ?
        if (value === undefined) throw new SyntaxProblem(`${name}: ${word || 'is not allowed to be unset'}`);
        if (nullIsUnset && value === '') throw new SyntaxProblem(`${name}: ${word || 'is not allowed to be empty'}`);
        return value;
      case 0x23: // #
      case 0x25: {
        // A doubled operator (## or %%) asks for the longest match.
        const greedy = word.length > 0 && word.codePointAt(0) === modifier;
        if (greedy) word = word.slice(1);
        const subject = value ?? '';
        return modifier === 0x25 ? trimSuffix(word, subject, greedy) : trimPrefix(word, subject, greedy);
      }
      default:
        throw new SyntaxProblem(`unsupported modifier (${written}) in substitution`);
    }
  }

  /** `${NAME/pattern/replacement}` and `${NAME//pattern/replacement}`; the first `/` is consumed. */
  substitute(name: string): string {
    const all = this.peek() === SLASH;
    if (all) this.next();
    const pattern = this.nested(SLASH, true, "syntax error: missing '/' in ${}");
    const replacement = this.nested(CLOSE_BRACE, true, "syntax error: missing '}'");
    const value = this.lookup(name);
    if (value === undefined && this.skipUnsetEnv) return `\${${name}/${pattern}/${replacement}}`;
    const subject = value ?? '';
    return all ? replaceAll(subject, pattern, replacement) : replaceFirst(subject, pattern, replacement);
  }

  /** The text of a `${...}` part up to `stop`; running out of input reports `atEnd` instead. */
  nested(stop: number, rawEscapes: boolean, atEnd: string): string {
    this.depth++;
    try {
      return this.processUntil(stop, rawEscapes);
    } catch (error) {
      // The depth limit stays the reported problem: the rest of the word was never read.
      if (this.peek() === EOF && !(error instanceof SyntaxProblem && error.offset !== undefined)) throw new SyntaxProblem(atEnd);
      throw error;
    } finally {
      this.depth--;
    }
  }
}

function run<T>(word: string, env: ShellEnv, options: ShellOptions | undefined, body: (lexer: Lexer) => T): T {
  const lexer = new Lexer(word, env, options ?? {});
  try {
    return body(lexer);
  } catch (error) {
    if (error instanceof SyntaxProblem) throw new ShellExpansionError(word, error.message, error.offset);
    if (error instanceof PatternError) throw new ShellExpansionError(word, error.message);
    throw error;
  }
}

/** BuildKit's ProcessWord: the expanded word, quotes removed, white space kept. */
export function expandWord(word: string, env: ShellEnv, options?: ShellOptions): string {
  return run(word, env, options, (lexer) => lexer.processUntil(EOF, false));
}

/** BuildKit's ProcessWords: the expansion split into words on unquoted white space. */
export function expandWords(word: string, env: ShellEnv, options?: ShellOptions): string[] {
  return run(word, env, options, (lexer) => {
    const words: WordSplitter = { current: '', words: [], inWord: false };
    lexer.processUntil(EOF, false, words);
    return finishWords(words);
  });
}

/** BuildKit's ProcessWordWithMatches: the expanded word and which variables were found or missing. */
export function expandWordWithMatches(
  word: string,
  env: ShellEnv,
  options?: ShellOptions,
): { result: string; matched: Set<string>; unmatched: Set<string> } {
  return run(word, env, options, (lexer) => {
    const result = lexer.processUntil(EOF, false);
    return { result, matched: lexer.matched, unmatched: lexer.unmatched };
  });
}
