/**
 * Tokens and grammar of one Dockerfile instruction line, after continuation lines have been joined
 * (see src/syntax/lines.ts). Many logical lines are lexed and parsed in one call when they are
 * separated by "\n" (per-call overhead would otherwise dominate).
 *
 *   dockerfile  := instruction*
 *   instruction := Keyword (Flag | EndOfFlags)* Rest?
 *
 * Blanks and line ends only separate tokens (they are skipped; flag and rest tokens include the
 * blanks before them), and a Keyword can only be lexed at the start of a line, so it is what
 * delimits instructions. The keyword is the first run of non-blank characters. Flags are the leading words that start with
 * `--` (BuildKit's extractBuilderFlags); a bare `--` ends them. Everything after that is Rest, which
 * the per-instruction argument rules split further (JSON, words, key=value pairs).
 *
 * The lexer has three modes so that, e.g., `RUN --mount=x echo --foo` lexes `--foo` as part of Rest
 * and `COPY -- --weird /x` lexes `--weird` as Rest too.
 */
import { CstParser, Lexer, createToken, type CstNode, type IToken } from 'chevrotain';

export interface FlagScan {
  /** Offset just past the word. */
  end: number;
  /** The word with quotes and backslash escapes removed (what BuildKit stores as the flag). */
  value: string;
}

function isFlagSpace(c: number): boolean {
  // BuildKit tests single bytes with unicode.IsSpace: the ASCII blanks (0x85 and 0xA0 never start a
  // UTF-8 sequence, so they only matter inside multibyte characters, which we keep intact).
  return c === 32 || (c >= 9 && c <= 13);
}

/**
 * Reads one `--word` starting at `start` the way BuildKit's extractBuilderFlags does: quotes group
 * blanks into the word and are dropped, a backslash takes the next character literally (both
 * outside and inside quotes; always `\`, whatever the escape directive says), a trailing backslash
 * is dropped. Stops at a blank outside quotes, at "\n" or at the end of the text.
 */
export function scanFlagWord(text: string, start: number): FlagScan | null {
  if (text.charCodeAt(start) !== 45 || text.charCodeAt(start + 1) !== 45) return null;
  const n = text.length;
  let i = start;
  let value = '';
  let plainFrom = start; // start of a run of characters copied verbatim
  let quote = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 10) break;
    if (quote === 0 && isFlagSpace(c)) break;
    if (quote === 0 && (c === 39 || c === 34)) {
      value += text.slice(plainFrom, i);
      quote = c;
      plainFrom = ++i;
    } else if (quote !== 0 && c === quote) {
      value += text.slice(plainFrom, i);
      quote = 0;
      plainFrom = ++i;
    } else if (c === 92) {
      value += text.slice(plainFrom, i);
      const atEnd = i + 1 >= n || text.charCodeAt(i + 1) === 10;
      if (atEnd) {
        quote = 0; // a backslash at the end closes an open quote and is dropped
        plainFrom = ++i;
      } else {
        plainFrom = i + 1; // the escaped character is kept, whatever it is
        i += 2;
      }
    } else {
      i++;
    }
  }
  value += text.slice(plainFrom, i);
  return { end: i, value };
}

// Both flag tokens scan the same word; remember the last scan so it is done once per position.
let lastScanText = '';
let lastScanStart = -1;
let lastScan: FlagScan | null = null;
function scanCached(text: string, start: number): FlagScan | null {
  if (start !== lastScanStart || text !== lastScanText) {
    lastScanText = text;
    lastScanStart = start;
    lastScan = scanFlagWord(text, start);
  }
  return lastScan;
}

/**
 * Flag tokens include the blanks before them (fewer tokens to lex and parse); the payload is the
 * flag's value.
 */
function flagMatcher(terminator: boolean) {
  return (text: string, offset: number): (RegExpExecArray & { payload?: string }) | null => {
    let start = offset;
    while (isFlagSpace(text.charCodeAt(start)) && text.charCodeAt(start) !== 10) start++;
    const scan = scanCached(text, start);
    if (scan === null || (scan.value === '--') !== terminator) return null;
    const match = [text.slice(offset, scan.end)] as unknown as RegExpExecArray & { payload?: string };
    match.payload = scan.value;
    return match;
  };
}

const BLANK_HINTS = ['-', ' ', '\t', '\v', '\f', '\r'];

/** "\n" between two logical lines, seen at the start of a line (an empty line). */
export const Newline = createToken({ name: 'Newline', pattern: /\n/, line_breaks: true, group: Lexer.SKIPPED });
/** "\n" that ends an instruction; returns the lexer to the start-of-line mode. */
export const LineEnd = createToken({
  name: 'LineEnd',
  pattern: /\n/,
  line_breaks: true,
  pop_mode: true,
  group: Lexer.SKIPPED,
});
/** Blanks as BuildKit's reWhitespace (`[\t\v\f\r ]+`) sees them. */
export const Whitespace = createToken({ name: 'Whitespace', pattern: /[\t\v\f\r ]+/, group: Lexer.SKIPPED });
export const Keyword = createToken({ name: 'Keyword', pattern: /[^\t\v\f\r \n]+/, push_mode: 'args' });
/** A `--` word (after quote removal): ends the flags, the rest of the line is arguments. */
export const EndOfFlags = createToken({
  name: 'EndOfFlags',
  pattern: { exec: flagMatcher(true) },
  line_breaks: false,
  start_chars_hint: BLANK_HINTS,
  pop_mode: true,
  push_mode: 'rest',
});
/** `--name[=value]` (after blanks); the token payload is the word with quotes and escapes removed. */
export const Flag = createToken({
  name: 'Flag',
  pattern: { exec: flagMatcher(false) },
  line_breaks: false,
  start_chars_hint: BLANK_HINTS,
});
/** Everything from the first non-flag word to the end of the line (with the blanks before it). */
export const Rest = createToken({ name: 'Rest', pattern: /[\t\v\f\r ]*[^\t\n\v\f\r ][^\n]*/ });

export const instructionTokens = [Newline, LineEnd, Whitespace, Keyword, EndOfFlags, Flag, Rest];

/**
 * Chevrotain's grammar and lexer validations catch mistakes in the grammar itself: they run while
 * berth runs from its sources (development, tests) and are skipped in the bundle, where they
 * would only cost every command start-up time.
 */
export const SKIP_GRAMMAR_VALIDATIONS = import.meta.url.endsWith('.js');

export const instructionLexer = new Lexer(
  {
    modes: {
      line: [Newline, Keyword],
      args: [LineEnd, EndOfFlags, Flag, Rest, Whitespace],
      rest: [LineEnd, Rest, Whitespace],
    },
    defaultMode: 'line',
  },
  { positionTracking: 'onlyOffset', ensureOptimizations: false, skipValidations: SKIP_GRAMMAR_VALIDATIONS },
);

export interface InstructionCst extends CstNode {
  children: {
    Keyword: IToken[];
    Flag?: IToken[];
    EndOfFlags?: IToken[];
    Rest?: IToken[];
  };
}

export interface DockerfileCst extends CstNode {
  children: { instruction?: InstructionCst[] };
}

class InstructionGrammar extends CstParser {
  constructor() {
    super(instructionTokens, { recoveryEnabled: false, nodeLocationTracking: 'none', maxLookahead: 1, skipValidations: SKIP_GRAMMAR_VALIDATIONS });
    this.performSelfAnalysis();
  }

  instruction = this.RULE('instruction', () => {
    this.CONSUME(Keyword);
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(Flag) }, { ALT: () => this.CONSUME(EndOfFlags) }]);
    });
    this.OPTION(() => this.CONSUME(Rest));
  });

  dockerfile = this.RULE('dockerfile', () => {
    this.MANY(() => this.SUBRULE(this.instruction));
  });
}

/** Built once: Chevrotain parsers are meant to be reused (self-analysis is the expensive part). */
export const instructionGrammar = new InstructionGrammar();
