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

export function rangeOfLines(file: string, startLine: number, endLine: number, endColumn = 1): SourceRange {
  return { file, start: { line: startLine, column: 1 }, end: { line: endLine, column: endColumn } };
}

export function formatLocation(range: SourceRange): string {
  return `${range.file}:${range.start.line}:${range.start.column}`;
}
