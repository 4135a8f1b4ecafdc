/**
 * From source text to logical lines, following BuildKit's Parse loop (parser.go):
 *
 * - physical lines end at "\n"; trailing "\r" characters are not part of the line (CRLF);
 * - parser directives (`# syntax=`, `# escape=`, `# check=`) are only recognised at the very top;
 * - an instruction's first line is left-trimmed; a line that is then empty or starts with `#` is
 *   skipped;
 * - a line ending in the escape character (optionally followed by blanks) continues on the next
 *   line, whose leading white space is kept; comment lines and empty lines inside a continuation are
 *   skipped (empty ones earn a warning); a continuation may run into the end of the file;
 * - after RUN/COPY/ADD lines that introduce heredocs, the following raw lines are the bodies, each
 *   ending at its delimiter line.
 *
 * Every logical line keeps a map from its offsets back to the physical line and column, so tokens
 * found later can be given source ranges.
 */
import { BuildError } from '../source/error.ts';
import type { Position, SourceRange } from '../source/range.ts';
import type { Heredoc, ParserDirectives, ParseWarning } from './ast.ts';
import type { HeredocHeader } from './heredoc.ts';
import { chompHeredocContent } from './heredoc.ts';
import { isGoSpace, skipGoSpace, trimEndGoSpace } from './words.ts';

/** BuildKit reads lines with bufio.Scanner: a line of 64 KiB or more is an error. */
export const MAX_LINE_BYTES = 65535;

/** Where the physical lines of a source are (no line strings are made until needed). */
export interface PhysicalLines {
  source: string;
  /** Offset of the first character of each line. */
  starts: number[];
  /** Offset of each line's "\n", or the end of the source for a last line without one. */
  ends: number[];
  /** Index of the first line that is too long, or the line count. Lines from there on are not read. */
  readable: number;
}

/** A stretch of a logical line copied from one physical line. */
export interface LinePiece {
  /** Offset in the logical line where the piece starts. */
  at: number;
  line: number;
  column: number;
}

export interface LogicalLine {
  /** The joined line, BuildKit's Node.Original. */
  original: string;
  /** `original` without surrounding white space: what the grammar parses ('' for a blank line). */
  text: string;
  /** Offset of `text` in `original`. */
  textStart: number;
  /** Offset of `text` in CollectedLines.batch (-1 when `text` is empty). */
  batchStart: number;
  pieces: LinePiece[];
  startLine: number;
  /** Last physical line of the instruction (continuations included, heredoc bodies not). */
  endLine: number;
  /** One past the last column of endLine. */
  endColumn: number;
  hasEmptyContinuation: boolean;
  heredocs: Heredoc[];
}

export interface CollectedLines {
  lines: LogicalLine[];
  /** The non-empty `text`s of all lines, each followed by "\n": one input for the lexer. */
  batch: string;
  warnings: ParseWarning[];
  /** An error found while reading; instructions before it may still fail first (BuildKit order). */
  pending: BuildError | null;
}

/** Decides, for a finished logical line, which heredoc bodies follow it (may throw BuildError). */
export type HeredocProbe = (line: LogicalLine) => HeredocHeader[];

function utf8Length(s: string): number {
  let bytes = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) bytes += c >= 0x800 && (c < 0xd800 || c >= 0xe000) ? 2 : 1;
  }
  return bytes;
}

export function splitPhysicalLines(source: string): PhysicalLines {
  const starts: number[] = [];
  const ends: number[] = [];
  let readable = -1;
  for (let start = 0; start < source.length; ) {
    let end = source.indexOf('\n', start);
    if (end < 0) end = source.length;
    // A UTF-16 unit is 1 to 3 UTF-8 bytes (a surrogate pair is 4 for 2 units): only long lines need counting.
    const len = end - start;
    if (readable < 0 && len * 3 > MAX_LINE_BYTES && utf8Length(source.slice(start, end)) > MAX_LINE_BYTES) readable = starts.length;
    starts.push(start);
    ends.push(end);
    start = end + 1;
  }
  return { source, starts, ends, readable: readable < 0 ? starts.length : readable };
}

/** End of line `i` without trailing "\r" characters (BuildKit's trimNewline; CRLF files). */
function contentEnd(lines: PhysicalLines, i: number): number {
  const { source, starts } = lines;
  let end = lines.ends[i];
  while (end > starts[i] && source.charCodeAt(end - 1) === 13) end--;
  return end;
}

/** Text of line `i` (0-based) without its line ending. */
export function lineText(lines: PhysicalLines, i: number): string {
  return lines.source.slice(lines.starts[i], contentEnd(lines, i));
}

const DIRECTIVE = /^#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*([^\n]+?)[\t\n\f\r ]*$/;
const DIRECTIVE_NAMES = new Set(['syntax', 'escape', 'check']);

function lineRange(file: string, line: number, text: string, column = 1): SourceRange {
  return { file, start: { line, column }, end: { line, column: text.length + 1 } };
}

/**
 * Parser directives: consecutive `# key=value` lines at the top with a known key. The first line
 * that is anything else (another comment, a blank line, an instruction, an unknown key) ends them.
 */
export function readDirectives(lines: PhysicalLines, file: string): ParserDirectives {
  const directives: ParserDirectives = { escape: '\\' };
  const seen = new Set<string>();
  for (let i = 0; i < lines.readable; i++) {
    const text = lineText(lines, i);
    const lead = skipGoSpace(text);
    const match = DIRECTIVE.exec(lead === 0 ? text : text.slice(lead));
    if (match === null) break;
    const key = match[1].toLowerCase();
    if (!DIRECTIVE_NAMES.has(key)) break;
    if (seen.has(key)) {
      throw new BuildError(`only one ${key} parser directive can be used`, lineRange(file, i + 1, text, lead + 1));
    }
    seen.add(key);
    const value = match[2];
    if (key === 'escape') {
      if (value !== '\\' && value !== '`') {
        throw new BuildError(`invalid escape token '${value}' does not match \` or \\`, lineRange(file, i + 1, text, lead + 1), {
          suggestion: 'use `# escape=\\` or `# escape=`` `',
        });
      }
      directives.escape = value;
    } else if (key === 'syntax') {
      directives.syntax = value;
    } else {
      directives.check = value;
    }
  }
  return directives;
}

/**
 * BuildKit's trimContinuationCharacter on source[start, end): `([^E])E[ \t]*$|^E[ \t]*$` (E the
 * escape character) is replaced by the character before E. Returns where the kept text ends, or -1
 * when the line does not continue.
 */
function continuationCut(source: string, start: number, end: number, escape: number): number {
  let j = end;
  while (j > start) {
    const c = source.charCodeAt(j - 1);
    if (c !== 32 && c !== 9) break;
    j--;
  }
  if (j === start || source.charCodeAt(j - 1) !== escape) return -1;
  if (j - 2 >= start && source.charCodeAt(j - 2) === escape) return -1; // an escaped escape character
  return j - 1;
}

/** Index of the first non-white-space character in source[start, end). */
function skipSpaceIn(source: string, start: number, end: number): number {
  let i = start;
  while (i < end && isGoSpace(source.charCodeAt(i))) i++;
  return i;
}

export function positionAt(line: LogicalLine, offset: number): Position {
  const pieces = line.pieces;
  let k = pieces.length - 1;
  while (k > 0 && pieces[k].at > offset) k--;
  const piece = pieces[k];
  return { line: piece.line, column: piece.column + offset - piece.at };
}

export function logicalLineRange(file: string, line: LogicalLine): SourceRange {
  return { file, start: positionAt(line, line.textStart), end: { line: line.endLine, column: line.endColumn } };
}

const EMPTY_CONTINUATION_DETAIL = 'Empty continuation lines will become errors in a future release';
const EMPTY_CONTINUATION_URL = 'https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/';

/**
 * Joins the physical lines of one logical line starting at line index `first` (0-based, already
 * known to hold an instruction starting at `lead`): continuations, comments and empty lines inside
 * them skipped as BuildKit skips them. Returns the line (batchStart unset) and the next line index.
 */
function joinLogicalLine(lines: PhysicalLines, first: number, lead: number, escape: number): { line: LogicalLine; next: number } {
  const { source, starts, readable } = lines;
  const startLine = first + 1;
  const firstEnd = contentEnd(lines, first);
  let i = first + 1;
  let cut = continuationCut(source, lead, firstEnd, escape);
  let original = source.slice(lead, cut < 0 ? firstEnd : cut);
  const pieces: LinePiece[] = [{ at: 0, line: startLine, column: lead - starts[first] + 1 }];
  let parts: string[] | null = null;
  let length = original.length;
  let hasEmptyContinuation = false;
  let endLine = startLine;
  let endText = firstEnd - starts[first];
  while (cut >= 0 && i < readable) {
    const start = starts[i];
    const end = contentEnd(lines, i);
    i++;
    endLine = i;
    endText = end - start;
    const firstChar = skipSpaceIn(source, start, end);
    if (firstChar < end && source.charCodeAt(firstChar) === 35) continue; // comment inside a continuation
    if (firstChar === end) {
      hasEmptyContinuation = true;
      continue;
    }
    cut = continuationCut(source, start, end, escape);
    const piece = source.slice(start, cut < 0 ? end : cut);
    pieces.push({ at: length, line: endLine, column: 1 });
    (parts ??= [original]).push(piece);
    length += piece.length;
  }
  if (parts !== null) original = parts.join('');
  const textStart = skipGoSpace(original);
  const textEnd = trimEndGoSpace(original);
  const text = textEnd <= textStart ? '' : textStart === 0 && textEnd === original.length ? original : original.slice(textStart, textEnd);
  const line: LogicalLine = {
    original, text, textStart, batchStart: -1, pieces, startLine, endLine, endColumn: endText + 1, hasEmptyContinuation, heredocs: [],
  };
  return { line, next: i };
}

/**
 * Reads the bodies of a line's heredocs from line index `first` on, each up to its terminator,
 * into `line.heredocs`. Returns the next line index, or the error of an unterminated heredoc.
 */
function readHeredocBodies(lines: PhysicalLines, file: string, line: LogicalLine, headers: HeredocHeader[], first: number): number | BuildError {
  const { source, starts, readable } = lines;
  let i = first;
  for (const header of headers) {
    const bodyStart = i;
    let terminated = false;
    while (i < readable) {
      const start = starts[i];
      const end = contentEnd(lines, i);
      i++;
      let from = start;
      if (header.chomp) while (from < end && source.charCodeAt(from) === 9) from++;
      if (end - from === header.name.length && source.startsWith(header.name, from)) {
        terminated = true;
        break;
      }
    }
    const bodyEnd = { line: i, column: contentEnd(lines, i - 1) - starts[i - 1] + 1 };
    if (!terminated) {
      return new BuildError('unterminated heredoc', { file, start: positionAt(line, line.textStart), end: bodyEnd }, {
        suggestion: `end the heredoc with a line that is exactly ${JSON.stringify(header.name)}`,
      });
    }
    // The body keeps its lines exactly, line endings included (from its first line to the terminator).
    const rawContent = source.slice(starts[bodyStart], starts[i - 1]);
    line.heredocs.push({
      name: header.name, fileDescriptor: header.fileDescriptor, expand: header.expand, chomp: header.chomp, rawContent,
      content: header.chomp ? chompHeredocContent(rawContent) : rawContent,
      range: { file, start: { line: bodyStart + 1, column: 1 }, end: bodyEnd },
    });
  }
  return i;
}

function emptyContinuationWarning(file: string, line: LogicalLine): ParseWarning {
  return {
    message: `Empty continuation line found in: ${line.original}`,
    detail: EMPTY_CONTINUATION_DETAIL,
    url: EMPTY_CONTINUATION_URL,
    range: logicalLineRange(file, line),
  };
}

/** Runs BuildKit's line loop over the whole file. */
export function collectLogicalLines(lines: PhysicalLines, file: string, escapeChar: string, probe: HeredocProbe): CollectedLines {
  const escape = escapeChar.charCodeAt(0);
  const { source, starts, readable } = lines;
  const out: LogicalLine[] = [];
  const warnings: ParseWarning[] = [];
  const batch: string[] = [];
  let batchLength = 0;
  const finish = (pending: BuildError | null): CollectedLines => ({ lines: out, batch: batch.join(''), warnings, pending });
  let i = 0;
  while (i < readable) {
    const lead = skipSpaceIn(source, starts[i], contentEnd(lines, i));
    if (lead === contentEnd(lines, i) || source.charCodeAt(lead) === 35) { // blank line or comment
      i++;
      continue;
    }
    const joined = joinLogicalLine(lines, i, lead, escape);
    const line = joined.line;
    i = joined.next;
    if (line.text !== '') {
      line.batchStart = batchLength;
      batch.push(line.text, '\n');
      batchLength += line.text.length + 1;
    }
    out.push(line);
    if (line.hasEmptyContinuation) warnings.push(emptyContinuationWarning(file, line));
    let headers: HeredocHeader[];
    try {
      headers = probe(line);
    } catch (error) {
      if (error instanceof BuildError) return finish(error);
      throw error;
    }
    const next = readHeredocBodies(lines, file, line, headers, i);
    if (next instanceof BuildError) return finish(next);
    i = next;
  }
  if (readable < starts.length) {
    return finish(new BuildError(`dockerfile line greater than max allowed size of ${MAX_LINE_BYTES}`, lineRange(file, readable + 1, '', 1)));
  }
  return finish(null);
}
