/**
 * Heredoc detection as BuildKit does it (parser.go: heredocsFromLine, ParseHeredoc,
 * ChompHeredocContent). BuildKit runs its shell lexer over the instruction line with raw quotes,
 * raw escapes and unset variables left alone, then matches every word against
 * `^(\d*)<<(-?)\s*([^<]*)$`. The delimiter word is lexed twice, with and without raw quotes: if the
 * quote counts differ, part of it was quoted and the body is not expanded.
 *
 * Only the parts of the shell lexer that can change word boundaries or quote counts matter here, so
 * this file has its own small word splitter instead of depending on src/shell.
 */
import { isGoSpace } from './words.ts';

export interface HeredocHeader {
  /** Delimiter with quotes removed. */
  name: string;
  /** The digit(s) before `<<` (`3<<EOF`), 0 when absent. */
  fileDescriptor: number;
  /** False when any part of the delimiter was quoted. */
  expand: boolean;
  /** `<<-`: leading tabs are stripped from the body and from the terminator line. */
  chomp: boolean;
}

interface WordOptions {
  rawQuotes: boolean;
  rawEscapes: boolean;
}

/** Thrown for unterminated quotes; BuildKit's message wording. */
export class HeredocSyntaxError extends Error {
  constructor(source: string, problem: string) {
    super(`failed to process ${JSON.stringify(source)}: ${problem}`);
    this.name = 'HeredocSyntaxError';
  }
}

/**
 * Shell word splitting with an empty environment and unset variables kept (`$X` stays `$X`), escape
 * character `\`. `<<` (or `<<-`) swallows the blanks after it so that `<< EOF` stays one word.
 */
export function shellWords(src: string, options: WordOptions): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  const n = src.length;
  let i = 0;
  const flush = (): void => {
    if (word.length > 0) words.push(word);
    word = '';
    inWord = false;
  };
  while (i < n) {
    const ch = src[i];
    const c = src.charCodeAt(i);
    if (ch === "'") {
      const close = src.indexOf("'", i + 1);
      if (close < 0) throw new HeredocSyntaxError(src, 'unexpected end of statement while looking for matching single-quote');
      word += options.rawQuotes ? src.slice(i, close + 1) : src.slice(i + 1, close);
      inWord = true;
      i = close + 1;
    } else if (ch === '"') {
      i = readDoubleQuoted(src, i, options, (text) => {
        word += text;
        inWord = true;
      });
    } else if (ch === '<') {
      let j = i + 1;
      if (src[j] === '<') {
        j++;
        if (src[j] === '-') j++; // `<<- EOF` is one word too
        while (j < n && (src[j] === ' ' || src[j] === '\t')) j++;
      }
      word += src.slice(i, j);
      inWord = true;
      i = j;
    } else if (ch === '\\') {
      if (options.rawEscapes) word += ch;
      inWord = true;
      if (i + 1 >= n) break;
      word += src[i + 1];
      i += 2;
    } else if (isGoSpace(c)) {
      if (inWord && word.length > 0) flush();
      i++;
    } else {
      word += ch;
      inWord = true;
      i++;
    }
  }
  if (word.length > 0) words.push(word);
  return words;
}

/** Reads a double-quoted section starting at `start` (the quote); returns the index after it. */
function readDoubleQuoted(src: string, start: number, options: WordOptions, emit: (text: string) => void): number {
  let text = options.rawQuotes ? '"' : '';
  let i = start + 1;
  for (;;) {
    if (i >= src.length) throw new HeredocSyntaxError(src, 'unexpected end of statement while looking for matching double-quote');
    const ch = src[i];
    if (ch === '"') {
      if (options.rawQuotes) text += '"';
      emit(text);
      return i + 1;
    }
    if (ch === '\\') {
      const next = src[i + 1];
      if (next === undefined) {
        i++;
        continue;
      }
      if (next === '"' || next === '$' || next === '\\') {
        text += options.rawEscapes ? ch + next : next;
        i += 2;
        continue;
      }
    }
    text += ch;
    i++;
  }
}

const HEREDOC_WORD = /^(\d*)<<(-?)[\t\n\f\r ]*([^<]*)$/;

function countQuotes(s: string): number {
  let count = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 34 || c === 39) count++;
  }
  return count;
}

/**
 * BuildKit's ParseHeredoc: the heredoc a single word introduces, or null when it is not one
 * (`<<`, `<<EOF sh`, `<EOF`, `<<<EOF`). Throws HeredocSyntaxError for `<<'EOF` and the like.
 */
export function parseHeredoc(word: string): HeredocHeader | null {
  const match = HEREDOC_WORD.exec(word);
  if (match === null) return null;
  const rest = match[3];
  if (rest === '') return null;
  const words = shellWords(rest, { rawQuotes: false, rawEscapes: false });
  if (words.length !== 1) return null;
  const raw = shellWords(rest, { rawQuotes: true, rawEscapes: false });
  if (raw.length !== 1) throw new HeredocSyntaxError(rest, 'internal lexing of heredoc produced inconsistent results');
  return {
    name: words[0],
    fileDescriptor: match[1] === '' ? 0 : Number(match[1]),
    expand: countQuotes(words[0]) === countQuotes(raw[0]),
    chomp: match[2] === '-',
  };
}

/** BuildKit's heredocsFromLine: every heredoc introduced on an instruction line, in order. */
export function heredocsFromLine(line: string): HeredocHeader[] {
  let words: string[];
  try {
    words = shellWords(line, { rawQuotes: true, rawEscapes: true });
  } catch {
    return []; // BuildKit ignores lexing errors of the whole line
  }
  const docs: HeredocHeader[] = [];
  for (const word of words) {
    const doc = parseHeredoc(word);
    if (doc !== null) docs.push(doc);
  }
  return docs;
}

/** BuildKit's ChompHeredocContent: removes leading tabs from every line (`<<-`). */
export function chompHeredocContent(content: string): string {
  return content.replace(/(^|\n)\t+/g, '$1');
}

/** Instructions whose shell form can carry heredocs (ONBUILD forwards to its sub-instruction). */
export const HEREDOC_INSTRUCTIONS: ReadonlySet<string> = new Set(['add', 'copy', 'run']);
