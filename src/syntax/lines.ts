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
import { skipGoSpace } from './words.ts';

/** BuildKit reads lines with bufio.Scanner: a line of 64 KiB or more is an error. */
export const MAX_LINE_BYTES = 65535;

export interface PhysicalLines {
  /** Each line without its "\n" (a "\r" before it is still there; see lineText). */
  raw: string[];
  /** Whether the source ends with "\n" (then the last raw line has one too). */
  endsWithNewline: boolean;
  /** Index of the first line that is too long, or raw.length. Lines from there on are not read. */
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
  const raw = source.split('\n');
  const endsWithNewline = raw[raw.length - 1] === '';
  if (endsWithNewline) raw.pop();
  let readable = raw.length;
  for (let i = 0; i < raw.length; i++) {
    const len = raw[i].length;
    // A UTF-16 unit is 1 to 3 UTF-8 bytes (a surrogate pair is 4 for 2 units): only long lines need counting.
    if (len * 3 > MAX_LINE_BYTES && utf8Length(raw[i]) > MAX_LINE_BYTES) {
      readable = i;
      break;
    }
  }
  return { raw, endsWithNewline, readable };
}

/** A physical line without trailing "\r" characters (BuildKit's trimNewline). */
export function lineText(raw: string): string {
  let end = raw.length;
  while (end > 0 && raw.charCodeAt(end - 1) === 13) end--;
  return end === raw.length ? raw : raw.slice(0, end);
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
    const text = lineText(lines.raw[i]);
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
 * BuildKit's trimContinuationCharacter: `([^E])E[ \t]*$|^E[ \t]*$` (E the escape character) is
 * replaced by the character before E. Returns the kept length, or -1 when the line does not continue.
 */
function continuationCut(text: string, escape: number): number {
  let j = text.length;
  while (j > 0) {
    const c = text.charCodeAt(j - 1);
    if (c !== 32 && c !== 9) break;
    j--;
  }
  if (j === 0 || text.charCodeAt(j - 1) !== escape) return -1;
  if (j >= 2 && text.charCodeAt(j - 2) === escape) return -1; // an escaped escape character
  return j - 1;
}

function isCommentLine(text: string): boolean {
  return text.charCodeAt(skipGoSpace(text)) === 35;
}

export function positionAt(line: LogicalLine, offset: number): Position {
  const pieces = line.pieces;
  let k = pieces.length - 1;
  while (k > 0 && pieces[k].at > offset) k--;
  const piece = pieces[k];
  return { line: piece.line, column: piece.column + offset - piece.at };
}

export function logicalLineRange(file: string, line: LogicalLine): SourceRange {
  return { file, start: positionAt(line, skipGoSpace(line.original)), end: { line: line.endLine, column: line.endColumn } };
}

const EMPTY_CONTINUATION_DETAIL = 'Empty continuation lines will become errors in a future release';
const EMPTY_CONTINUATION_URL = 'https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/';

/** Runs BuildKit's line loop over the whole file. */
export function collectLogicalLines(lines: PhysicalLines, file: string, escapeChar: string, probe: HeredocProbe): CollectedLines {
  const escape = escapeChar.charCodeAt(0);
  const { raw, readable } = lines;
  const out: LogicalLine[] = [];
  const warnings: ParseWarning[] = [];
  let i = 0;
  while (i < readable) {
    const startLine = i + 1;
    const first = lineText(raw[i++]);
    const lead = skipGoSpace(first);
    if (lead === first.length || first.charCodeAt(lead) === 35) continue; // blank line or comment
    const body = lead === 0 ? first : first.slice(lead);
    let cut = continuationCut(body, escape);
    let original = cut < 0 ? body : body.slice(0, cut);
    const pieces: LinePiece[] = [{ at: 0, line: startLine, column: lead + 1 }];
    let hasEmptyContinuation = false;
    let endLine = startLine;
    let endText = first;
    while (cut >= 0 && i < readable) {
      const text = lineText(raw[i++]);
      endLine = i;
      endText = text;
      if (isCommentLine(text)) continue;
      if (skipGoSpace(text) === text.length) {
        hasEmptyContinuation = true;
        continue;
      }
      cut = continuationCut(text, escape);
      pieces.push({ at: original.length, line: endLine, column: 1 });
      original += cut < 0 ? text : text.slice(0, cut);
    }
    const line: LogicalLine = {
      original,
      pieces,
      startLine,
      endLine,
      endColumn: endText.length + 1,
      hasEmptyContinuation,
      heredocs: [],
    };
    out.push(line);
    if (hasEmptyContinuation) {
      warnings.push({
        message: `Empty continuation line found in: ${original}`,
        detail: EMPTY_CONTINUATION_DETAIL,
        url: EMPTY_CONTINUATION_URL,
        range: logicalLineRange(file, line),
      });
    }
    let headers: HeredocHeader[];
    try {
      headers = probe(line);
    } catch (error) {
      if (error instanceof BuildError) return { lines: out, warnings, pending: error };
      throw error;
    }
    for (const header of headers) {
      const bodyStart = i;
      let rawContent = '';
      let terminated = false;
      while (i < readable) {
        const text = lineText(raw[i]);
        const candidate = header.chomp ? text.replace(/^\t+/, '') : text;
        i++;
        if (candidate === header.name) {
          terminated = true;
          break;
        }
        rawContent += i < raw.length || lines.endsWithNewline ? raw[i - 1] + '\n' : raw[i - 1];
      }
      if (!terminated) {
        const range: SourceRange = {
          file,
          start: positionAt(line, skipGoSpace(line.original)),
          end: { line: i, column: lineText(raw[i - 1]).length + 1 },
        };
        return { lines: out, warnings, pending: new BuildError('unterminated heredoc', range, { suggestion: `end the heredoc with a line that is exactly ${JSON.stringify(header.name)}` }) };
      }
      line.heredocs.push({
        name: header.name,
        fileDescriptor: header.fileDescriptor,
        expand: header.expand,
        chomp: header.chomp,
        rawContent,
        content: header.chomp ? chompHeredocContent(rawContent) : rawContent,
        range: {
          file,
          start: { line: bodyStart + 1, column: 1 },
          end: { line: i, column: lineText(raw[i - 1]).length + 1 },
        },
      });
    }
  }
  let pending: BuildError | null = null;
  if (readable < raw.length) {
    pending = new BuildError(
      `dockerfile line greater than max allowed size of ${MAX_LINE_BYTES}`,
      lineRange(file, readable + 1, '', 1),
    );
  }
  return { lines: out, warnings, pending };
}
