/**
 * Per-instruction argument rules: BuildKit's dispatch table of line parsers (line_parsers.go). They
 * turn the text after the keyword and flags into the argument tokens that BuildKit's AST dump shows.
 * No quote removal or variable expansion happens here; that is the instruction layer's job.
 */
import { goQuote } from './dump.ts';
import { NOT_STRING_ARRAY, parseJsonArray, parseWords, skipGoSpace, splitBlanks, splitFirstBlank, type JsonArrayResult } from './words.ts';

export interface ParsedArguments {
  args: string[];
  /** The arguments came from a JSON array (exec form). */
  json: boolean;
  /** ONBUILD: `rest` is itself an instruction to parse. */
  subInstruction: boolean;
}

/** A problem with an instruction's arguments; the caller turns it into a BuildError with a range. */
export class ArgumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArgumentError';
  }
}

function fail(message: string): never {
  throw new ArgumentError(message);
}

/** How exec-form candidates are decoded (parseJsonArray, or a lookup of results parsed in bulk). */
export type JsonDecoder = (text: string) => JsonArrayResult;

type LineParser = (rest: string, escape: string, json: JsonDecoder) => ParsedArguments;

function plain(args: string[]): ParsedArguments {
  return { args, json: false, subInstruction: false };
}

/** RUN, CMD, ENTRYPOINT, SHELL: JSON array of strings, else the whole text as one token. */
function maybeJson(rest: string, _escape: string, json: JsonDecoder): ParsedArguments {
  if (rest === '') return plain([]);
  const parsed = decodeCandidate(rest, json);
  if (parsed.kind === 'strings') return { args: parsed.values, json: true, subInstruction: false };
  return plain([rest]);
}

/** Only text starting with `[` (after white space) is tried as JSON. */
function decodeCandidate(rest: string, json: JsonDecoder): JsonArrayResult {
  if (rest.charCodeAt(skipGoSpace(rest)) !== 91) return NOT_JSON;
  const parsed = json(rest);
  if (parsed.kind === 'not-strings') fail(NOT_STRING_ARRAY);
  return parsed;
}

const NOT_JSON: JsonArrayResult = { kind: 'not-json' };

/** ADD, COPY, VOLUME: JSON array of strings, else blank-separated words (quotes not interpreted). */
function maybeJsonToList(rest: string, _escape: string, json: JsonDecoder): ParsedArguments {
  const parsed = decodeCandidate(rest, json);
  if (parsed.kind === 'strings') return { args: parsed.values, json: true, subInstruction: false };
  return plain(splitBlanks(rest));
}

/** FROM, EXPOSE. */
function blankSeparated(rest: string): ParsedArguments {
  return plain(splitBlanks(rest));
}

/** MAINTAINER, STOPSIGNAL, USER, WORKDIR: everything as one token. */
function wholeText(rest: string): ParsedArguments {
  return plain(rest === '' ? [] : [rest]);
}

/** ARG: words, quotes kept. */
function nameOrNameValue(rest: string, escape: string): ParsedArguments {
  return plain(parseWords(rest, escape));
}

/**
 * ENV and LABEL: `key value...` (old form, the value is the verbatim rest) gives key, value, "";
 * `k=v k2=v2` gives key, value, "=" for each pair. Quotes stay in the values.
 */
function nameValue(keyword: string): LineParser {
  return (rest, escape) => {
    const first = parseWords(rest, escape, 1);
    if (first.length === 0) return plain([]);
    if (!first[0].includes('=')) {
      const parts = splitFirstBlank(rest);
      if (parts.length < 2) fail(`${keyword} must have two arguments`);
      return plain([parts[0], parts[1], '']);
    }
    const args: string[] = [];
    for (const word of parseWords(rest, escape)) {
      const eq = word.indexOf('=');
      if (eq < 0) fail(`Syntax error - can't find = in ${goQuote(word)}. Must be of the form: name=value`);
      args.push(word.slice(0, eq), word.slice(eq + 1), '=');
    }
    return plain(args);
  };
}

function isByteSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

/** HEALTHCHECK's split: the end of the first word and the start of the remainder. */
function healthSplit(rest: string): [number, number] {
  let sep = 0;
  while (sep < rest.length && !isByteSpace(rest.charCodeAt(sep))) sep++;
  let next = sep;
  while (next < rest.length && isByteSpace(rest.charCodeAt(next))) next++;
  return [sep, next];
}

/** HEALTHCHECK: the first word (CMD, NONE, anything), then the remainder as for CMD. */
function healthConfig(rest: string, escape: string, json: JsonDecoder): ParsedArguments {
  const [sep, next] = healthSplit(rest);
  if (sep === 0) return plain([]);
  const command = maybeJson(rest.slice(next), escape, json);
  return { args: [rest.slice(0, sep), ...command.args], json: command.json, subInstruction: false };
}

function subCommand(rest: string): ParsedArguments {
  return { args: [], json: false, subInstruction: rest !== '' };
}

const DISPATCH: Record<string, LineParser> = {
  add: maybeJsonToList,
  arg: nameOrNameValue,
  cmd: maybeJson,
  copy: maybeJsonToList,
  entrypoint: maybeJson,
  env: nameValue('ENV'),
  expose: blankSeparated,
  from: blankSeparated,
  healthcheck: healthConfig,
  label: nameValue('LABEL'),
  maintainer: wholeText,
  onbuild: subCommand,
  run: maybeJson,
  shell: maybeJson,
  stopsignal: wholeText,
  user: wholeText,
  volume: maybeJsonToList,
  workdir: wholeText,
};

/** The instructions BuildKit's parser knows (lower case). */
export const KNOWN_INSTRUCTIONS: ReadonlySet<string> = new Set(Object.keys(DISPATCH));

/**
 * Arguments of one instruction. Unknown keywords get one empty token, as BuildKit's parseIgnore
 * does; reporting them is up to the instruction layer. Throws ArgumentError for what BuildKit's
 * parser rejects (`ENV k` without a value, a JSON array with a non-string element, ...).
 */
export function parseArguments(keyword: string, rest: string, escape = '\\', json: JsonDecoder = parseJsonArray): ParsedArguments {
  const parser = Object.hasOwn(DISPATCH, keyword) ? DISPATCH[keyword] : undefined;
  return parser === undefined ? plain(['']) : parser(rest, escape, json);
}

const JSON_CAPABLE = new Set(['add', 'cmd', 'copy', 'entrypoint', 'run', 'shell', 'volume']);

/**
 * The text parseArguments would try as a JSON array for this instruction, if any; lets the caller
 * decode all candidates of a file in one pass.
 */
export function jsonCandidate(keyword: string, rest: string): string | null {
  let text = rest;
  if (keyword === 'healthcheck') {
    const [sep, next] = healthSplit(rest);
    if (sep === 0) return null;
    text = rest.slice(next);
  } else if (!JSON_CAPABLE.has(keyword)) {
    return null;
  }
  return text.charCodeAt(skipGoSpace(text)) === 91 ? text : null;
}
