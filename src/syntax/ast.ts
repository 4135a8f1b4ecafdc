import type { SourceRange } from '../source/range.ts';

/** A heredoc body attached to RUN, COPY or ADD (`<<EOF`, `<<-EOF`, `<<"EOF"`). */
export interface Heredoc {
  /** Delimiter word without quotes or the `-`. */
  name: string;
  /**
   * Body text, each line ending in "\n"; tabs already stripped for `<<-`. Line endings are kept as
   * in the file (a CRLF file gives "\r\n"), as BuildKit does.
   */
  content: string;
  /** Body exactly as written (BuildKit's Heredoc.Content: no tab stripping even for `<<-`). */
  rawContent: string;
  /** The digits before `<<` (`3<<EOF` -> 3), 0 when absent. */
  fileDescriptor: number;
  /** False when the delimiter was quoted: the body is not variable-expanded. */
  expand: boolean;
  /** True for `<<-`. */
  chomp: boolean;
  /** Where the body (first content line through the closing delimiter) sits in the file. */
  range: SourceRange;
}

/**
 * One instruction as the parser sees it, before any per-instruction semantics. This mirrors
 * BuildKit's parser.Node: `dump()` of it reproduces BuildKit's AST dump byte for byte.
 */
export interface InstructionNode {
  /** Keyword in lower case (`run`, `copy`, or an unknown word such as `foo`). */
  keyword: string;
  /** Keyword exactly as written. */
  keywordAsWritten: string;
  /** Leading `--flag[=value]` words with quotes removed, `--` terminator dropped. */
  flags: string[];
  /** Argument tokens exactly as BuildKit's line parsers produce them (see corpus README). */
  args: string[];
  /** True when the arguments came from a JSON array (exec form). */
  json: boolean;
  /** The logical line after continuation joining, with the keyword (BuildKit's Node.Original). */
  original: string;
  /** The text after the keyword (and after the flags), still unexpanded. */
  rest: string;
  /** Bodies of the heredocs the line introduces, in order (RUN, COPY, ADD in shell form; for ONBUILD
   * the same array is on the ONBUILD node and on `next`). */
  heredocs: Heredoc[];
  /** For ONBUILD: the nested instruction. */
  next?: InstructionNode;
  /** Spans the whole instruction including continuation lines (not heredoc bodies... see heredocs). */
  range: SourceRange;
  /** Range of the keyword itself. */
  keywordRange: SourceRange;
  /** Ranges of each flag, same order as `flags`. */
  flagRanges: SourceRange[];
  /** Range of `rest` (absent when there is no text after the keyword and flags). */
  restRange?: SourceRange;
}

export interface ParserDirectives {
  syntax?: string;
  escape: '\\' | '`';
  check?: string;
}

export interface ParseWarning {
  message: string;
  range: SourceRange;
  /** Longer explanation, as BuildKit's Warning.Detail. */
  detail?: string;
  /** Documentation link, as BuildKit's Warning.URL. */
  url?: string;
}

export interface ParsedDockerfile {
  file: string;
  /** The full source text (BOM removed), for code frames. */
  source: string;
  directives: ParserDirectives;
  instructions: InstructionNode[];
  warnings: ParseWarning[];
}
