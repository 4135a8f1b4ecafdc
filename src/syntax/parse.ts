/**
 * parseDockerfile: source text -> InstructionNode[] with source ranges.
 *
 * 1. lines.ts turns the text into logical lines (directives, continuations, heredoc bodies), the way
 *    BuildKit's line loop does, keeping a map back to physical lines and columns.
 * 2. The logical lines, joined with "\n", are lexed and parsed by the Chevrotain grammar
 *    (grammar/instruction.ts) a few hundred at a time: keyword, flags, `--`, rest.
 * 3. Each instruction's rest goes through BuildKit's per-instruction argument rules (arguments.ts);
 *    the exec-form JSON candidates of a chunk are decoded together (grammar/json.ts).
 *
 * A line that may introduce heredocs (it contains `<<`) has to be understood before the lines after
 * it are read, so such lines are also parsed on their own while reading; they are rare.
 */
import { instructionGrammar, instructionLexer, type DockerfileCst, type InstructionCst } from '../../grammar/index.ts';
import { BuildError } from '../source/error.ts';
import type { SourceRange } from '../source/range.ts';
import type { InstructionNode, ParsedDockerfile } from './ast.ts';
import { ArgumentError, jsonCandidate, parseArguments, type JsonDecoder, type ParsedArguments } from './arguments.ts';
import { HEREDOC_INSTRUCTIONS, HeredocSyntaxError, heredocsFromLine, type HeredocHeader } from './heredoc.ts';
import { collectLogicalLines, positionAt, readDirectives, splitPhysicalLines, type CollectedLines, type LogicalLine } from './lines.ts';
import { parseJsonArray, parseJsonArrays, skipGoSpace, type JsonArrayResult } from './words.ts';

interface Context {
  file: string;
  escape: string;
  source: string;
}

function internalError(what: string, detail: unknown): Error {
  return new Error(`berth parser internal error (${what}): ${JSON.stringify(detail)}`);
}

/**
 * Range of the characters [start, end) of lexed text that sits in `line` so that a lexed offset
 * plus `shift` is an offset in `line.original`.
 */
function spanOf(file: string, line: LogicalLine, shift: number, start: number, end: number): SourceRange {
  const first = positionAt(line, start + shift);
  if (end <= start) return { file, start: first, end: first };
  const last = positionAt(line, end - 1 + shift);
  last.column++;
  return { file, start: first, end: last };
}

/** The parts of an instruction CST that argument parsing needs. */
interface Head {
  cst: InstructionCst;
  keyword: string;
  rest: string;
  /** Offset of `rest` in the lexed text, -1 without rest. */
  restStart: number;
}

function headOf(cst: InstructionCst): Head {
  const keyword = cst.children.Keyword[0].image.toLowerCase();
  const restToken = cst.children.Rest?.[0];
  if (restToken === undefined) return { cst, keyword, rest: '', restStart: -1 };
  // The token starts with the blanks before the text; BuildKit's TrimSpace drops Unicode spaces too.
  const lead = skipGoSpace(restToken.image);
  return { cst, keyword, rest: restToken.image.slice(lead), restStart: restToken.startOffset + lead };
}

/**
 * Builds one node from lexed text placed in `line` (see spanOf); `original` is what BuildKit keeps
 * as Node.Original.
 */
function buildNode(head: Head, line: LogicalLine, shift: number, ctx: Context, original: string, json: JsonDecoder): InstructionNode {
  const first = buildOne(head, line, shift, ctx, original, json);
  // ONBUILD's rest is an instruction of its own, perhaps ONBUILD again: the chain is built in a
  // loop, because one line can hold thousands of ONBUILDs (the instruction layer rejects chaining).
  let outer = first.node;
  let sub = first.sub;
  while (sub !== undefined) {
    const inner = buildOne(headOf(parseCst(sub.text)), line, sub.shift, ctx, sub.text, parseJsonArray);
    outer.next = inner.node;
    outer = inner.node;
    sub = inner.sub;
  }
  return first.node;
}

/** One node; for ONBUILD also where the text of its sub-instruction is, which buildNode parses. */
function buildOne(
  head: Head, line: LogicalLine, shift: number, ctx: Context, original: string, json: JsonDecoder,
): { node: InstructionNode; sub?: { text: string; shift: number } } {
  const { cst, keyword, rest, restStart } = head;
  const file = ctx.file;
  const keywordToken = cst.children.Keyword[0];
  const keywordAsWritten = keywordToken.image;
  const flags: string[] = [];
  const flagRanges: SourceRange[] = [];
  for (const flag of cst.children.Flag ?? []) {
    flags.push(flag.payload as string);
    const image = flag.image;
    let lead = 0;
    while (image.charCodeAt(lead) !== 45) lead++; // the token starts with the blanks before `--`
    flagRanges.push(spanOf(file, line, shift, flag.startOffset + lead, flag.startOffset + image.length));
  }
  const keywordRange = spanOf(file, line, shift, keywordToken.startOffset, keywordToken.startOffset + keywordAsWritten.length);
  const range: SourceRange = { file, start: keywordRange.start, end: { line: line.endLine, column: line.endColumn } };
  let parsed: ParsedArguments;
  try {
    parsed = parseArguments(keyword, rest, ctx.escape, json);
  } catch (error) {
    if (error instanceof ArgumentError) throw new BuildError(error.message, range, { source: ctx.source });
    throw error;
  }
  const node: InstructionNode = {
    keyword,
    keywordAsWritten,
    flags,
    args: parsed.args,
    json: parsed.json,
    original,
    rest,
    heredocs: [],
    range,
    keywordRange,
    flagRanges,
  };
  if (rest !== '') node.restRange = spanOf(file, line, shift, restStart, restStart + rest.length);
  return parsed.subInstruction ? { node, sub: { text: rest, shift: shift + restStart } } : { node };
}

/** The CST of one trimmed, non-empty instruction text on its own. */
function parseCst(text: string): InstructionCst {
  const lexed = instructionLexer.tokenize(text);
  if (lexed.errors.length > 0) throw internalError('lexer', lexed.errors[0].message);
  instructionGrammar.input = lexed.tokens;
  const cst = instructionGrammar.instruction() as InstructionCst;
  if (instructionGrammar.errors.length > 0) throw internalError('parser', instructionGrammar.errors[0].message);
  return cst;
}

/** Parses one trimmed, non-empty instruction text on its own. */
function parseSingle(text: string, line: LogicalLine, shift: number, ctx: Context, original: string): InstructionNode {
  return buildNode(headOf(parseCst(text)), line, shift, ctx, original, parseJsonArray);
}

/**
 * A logical line that is only white space (e.g. a lone escape character followed by blank lines):
 * BuildKit keeps it as an instruction with an empty keyword, which the instruction layer rejects.
 */
function blankNode(line: LogicalLine, ctx: Context): InstructionNode {
  const start = positionAt(line, 0);
  const range: SourceRange = { file: ctx.file, start, end: { line: line.endLine, column: line.endColumn } };
  return {
    keyword: '',
    keywordAsWritten: '',
    flags: [],
    args: [''],
    json: false,
    original: line.original,
    rest: '',
    heredocs: [],
    range,
    keywordRange: { file: ctx.file, start, end: start },
    flagRanges: [],
  };
}

/** Decides which heredoc bodies follow `line` (BuildKit's canContainHeredoc + heredocsFromLine). */
function probeHeredocs(line: LogicalLine, ctx: Context): HeredocHeader[] {
  if (line.text === '' || !line.original.includes('<<')) return [];
  const node = parseSingle(line.text, line, line.textStart, ctx, line.original);
  const target = node.keyword === 'onbuild' && node.next !== undefined ? node.next : node;
  if (!HEREDOC_INSTRUCTIONS.has(target.keyword) || target.json) return [];
  try {
    return heredocsFromLine(line.original);
  } catch (error) {
    if (error instanceof HeredocSyntaxError) throw new BuildError(error.message, node.range, { source: ctx.source });
    throw error;
  }
}

/** Decodes the exec-form candidates of all instructions in one pass (see parseJsonArrays). */
function decodeAllJson(heads: Head[]): JsonDecoder {
  const candidates: string[] = [];
  for (const head of heads) {
    const candidate = jsonCandidate(head.keyword, head.rest);
    if (candidate !== null) candidates.push(candidate);
  }
  if (candidates.length === 0) return parseJsonArray;
  const results = parseJsonArrays(candidates);
  const decoded = new Map<string, JsonArrayResult>();
  for (let i = 0; i < candidates.length; i++) decoded.set(candidates[i], results[i]);
  return (text) => decoded.get(text) ?? parseJsonArray(text);
}

/**
 * How many instructions are lexed and parsed per Chevrotain call. One call per instruction would
 * be dominated by per-call overhead; one call for a huge file keeps every token and CST node alive
 * until the end, which makes the garbage collector copy them. A few hundred is the sweet spot.
 */
const CHUNK = 512;

/** Lexes and parses the logical lines in a few Chevrotain passes, then builds the nodes. */
function buildInstructions(collected: CollectedLines, ctx: Context): InstructionNode[] {
  const { lines, batch } = collected;
  const nodes: InstructionNode[] = [];
  for (let first = 0; first < lines.length; ) {
    let last = first;
    let from = -1;
    let to = -1;
    for (let count = 0; last < lines.length && count < CHUNK; last++) {
      const line = lines[last];
      if (line.text === '') continue;
      if (from < 0) from = line.batchStart;
      to = line.batchStart + line.text.length + 1;
      count++;
    }
    const heads = from < 0 ? [] : parseChunk(from === 0 && to === batch.length ? batch : batch.slice(from, to));
    const json = decodeAllJson(heads);
    let k = 0;
    for (let i = first; i < last; i++) {
      const line = lines[i];
      let node: InstructionNode;
      if (line.text === '') {
        node = blankNode(line, ctx);
      } else {
        const head = heads[k++];
        if (head === undefined) throw internalError('instruction count', heads.length);
        node = buildNode(head, line, line.textStart - (line.batchStart - from), ctx, line.original, json);
      }
      if (line.heredocs.length > 0) {
        node.heredocs = line.heredocs;
        if (node.next !== undefined) node.next.heredocs = line.heredocs;
      }
      nodes.push(node);
    }
    first = last;
  }
  return nodes;
}

function parseChunk(text: string): Head[] {
  const lexed = instructionLexer.tokenize(text);
  if (lexed.errors.length > 0) throw internalError('lexer', lexed.errors[0].message);
  instructionGrammar.input = lexed.tokens;
  const cst = instructionGrammar.dockerfile() as DockerfileCst;
  if (instructionGrammar.errors.length > 0) throw internalError('parser', instructionGrammar.errors[0].message);
  return (cst.children.instruction ?? []).map(headOf);
}

function parseSource(source: string, file: string): ParsedDockerfile {
  const physical = splitPhysicalLines(source);
  const directives = readDirectives(physical, file);
  const ctx: Context = { file, escape: directives.escape, source };
  const collected = collectLogicalLines(physical, file, directives.escape, (line) => probeHeredocs(line, ctx));
  const instructions = buildInstructions(collected, ctx);
  if (collected.pending !== null) throw collected.pending;
  if (instructions.length === 0) {
    const line = Math.max(1, physical.starts.length);
    throw new BuildError('file with no instructions', { file, start: { line, column: 1 }, end: { line, column: 1 } }, {
      suggestion: 'a Dockerfile needs at least a FROM instruction',
    });
  }
  return { file, source, directives, instructions, warnings: collected.warnings };
}

/**
 * Parses a Dockerfile. Throws BuildError (with a range and the source text for a code frame) for
 * everything BuildKit's parser rejects; unknown instructions are kept for the instruction layer.
 */
export function parseDockerfile(text: string, file = 'Dockerfile'): ParsedDockerfile {
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return parseSource(source, file);
  } catch (error) {
    if (error instanceof BuildError && error.source === undefined) error.source = source;
    throw error;
  }
}
