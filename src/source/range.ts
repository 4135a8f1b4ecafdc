/** A position in a source file. Lines and columns are 1-based; columns count UTF-16 code units. */
export interface Position {
  line: number;
  column: number;
}

/** A source range: `end` is inclusive of the last character's line and exclusive of its column. */
export interface SourceRange {
  file: string;
  start: Position;
  end: Position;
}

export function formatLocation(range: SourceRange): string {
  return `${range.file}:${range.start.line}:${range.start.column}`;
}

/** Offset in `source` of the start of 1-based `line` (the end of `source` past its last line). */
function lineStart(source: string, line: number): number {
  let at = 0;
  for (let n = 1; n < line; n++) {
    const nl = source.indexOf('\n', at);
    if (nl < 0) return source.length;
    at = nl + 1;
  }
  return at;
}

/**
 * The location of `text[offset]`, where `text` is a word of the instruction at `range`: found by
 * looking for the word as written on the instruction's lines. A word that is not there verbatim
 * (joined across continuation lines, a tab-stripped heredoc body) gets the instruction's range,
 * the best location there is for it.
 */
export function locateInRange(source: string, range: SourceRange, text: string, offset: number): SourceRange {
  const from = lineStart(source, range.start.line) + range.start.column - 1;
  const lastLine = lineStart(source, range.end.line);
  const nl = source.indexOf('\n', lastLine);
  const to = nl < 0 ? source.length : nl;
  const found = text === '' ? -1 : source.indexOf(text, from);
  if (found < 0 || found + text.length > to) return range;
  const at = found + Math.min(Math.max(offset, 0), text.length);
  let line = range.start.line;
  let start = lineStart(source, line);
  for (let nextNl = source.indexOf('\n', start); nextNl >= 0 && nextNl < at; nextNl = source.indexOf('\n', start)) {
    line++;
    start = nextNl + 1;
  }
  const column = at - start + 1;
  return { file: range.file, start: { line, column }, end: { line, column: column + 1 } };
}
