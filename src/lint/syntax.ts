/**
 * The rules BuildKit applies while it parses: they look at instructions as written (keyword
 * casing, stage names, MAINTAINER, description comments) and at the parser's own warnings.
 */
import type { InstructionNode, ParsedDockerfile } from '../syntax/ast.ts';
import type { SourceRange } from '../source/range.ts';
import type { Linter } from './config.ts';
import { MESSAGES, RULES } from './rules.ts';

/** BuildKit's location of an instruction: its lines, heredoc bodies included. */
export function nodeRange(node: InstructionNode): SourceRange {
  let end = node.range.end;
  for (const heredoc of node.heredocs) if (heredoc.range.end.line > end.line) end = heredoc.range.end;
  return end === node.range.end ? node.range : { ...node.range, end };
}

const RESERVED_STAGE_NAMES = new Set(['context', 'scratch']);

const isLower = (s: string): boolean => s === s.toLowerCase();
const isUpper = (s: string): boolean => s === s.toUpperCase();
const selfConsistent = (s: string): boolean => isLower(s) || isUpper(s);

/**
 * The comment lines right above `line` (no blank line between), nearest last, each without its
 * `#` and surrounding white space: BuildKit's Node.PrevComment.
 */
export function commentsAbove(source: string, line: number): string[] {
  const lines = source.split('\n');
  const out: string[] = [];
  for (let n = line - 1; n >= 1; n--) {
    const text = (lines[n - 1] ?? '').replace(/\r$/, '').trim();
    if (!text.startsWith('#')) break;
    const comment = text.slice(1).trim();
    if (comment === '') break;
    out.unshift(comment);
  }
  return out;
}

function checkDescription(parsed: ParsedDockerfile, node: InstructionNode, keys: string[], linter: Linter): void {
  const comments = commentsAbove(parsed.source, node.range.start.line);
  if (comments.length === 0 || keys.length === 0) return;
  const first = comments[comments.length - 1].split(' ')[0];
  if (keys.includes(first)) return;
  const example = keys.length > 1 ? '<arg_key>' : keys[0];
  linter.report(RULES.InvalidDefinitionDescription, nodeRange(node), MESSAGES.InvalidDefinitionDescription(node.keywordAsWritten.toUpperCase(), example));
}

function checkFrom(parsed: ParsedDockerfile, node: InstructionNode, linter: Linter): void {
  const { args } = node;
  const range = nodeRange(node);
  if (args.length === 3 && !isLower(args[2])) linter.report(RULES.StageNameCasing, range, MESSAGES.StageNameCasing(args[2]));
  const from = node.keywordAsWritten;
  if (args.length >= 3 && selfConsistent(from) && (isLower(from) ? !isLower(args[1]) : !isUpper(args[1]))) {
    linter.report(RULES.FromAsCasing, range, MESSAGES.FromAsCasing(from, args[1]));
  }
  if (args.length === 3) checkDescription(parsed, node, [args[2].toLowerCase()], linter);
}

/** The names an ARG line declares (`ARG a=1 b` -> a, b). */
function argKeys(node: InstructionNode): string[] {
  return node.args.map((word) => {
    const eq = word.indexOf('=');
    return eq < 0 ? word : word.slice(0, eq);
  });
}

/** Per-instruction parse-time rules, in file order, as BuildKit's instructions.Parse runs them. */
function checkNodes(parsed: ParsedDockerfile, linter: Linter): void {
  for (const node of parsed.instructions) {
    if (node.keyword === 'maintainer') linter.report(RULES.MaintainerDeprecated, nodeRange(node), MESSAGES.MaintainerDeprecated());
    else if (node.keyword === 'from') checkFrom(parsed, node, linter);
    else if (node.keyword === 'arg') checkDescription(parsed, node, argKeys(node), linter);
  }
}

function checkStageNames(stages: InstructionNode[], linter: Linter): void {
  const seen = new Set<string>();
  for (const node of stages) {
    if (node.args.length !== 3) continue;
    const name = node.args[2].toLowerCase();
    if (RESERVED_STAGE_NAMES.has(name)) linter.report(RULES.ReservedStageName, nodeRange(node), MESSAGES.ReservedStageName(name));
    if (seen.has(name)) linter.report(RULES.DuplicateStageName, nodeRange(node), MESSAGES.DuplicateStageName(name));
    seen.add(name);
  }
}

/**
 * Keyword casing against the majority of the file's instructions from the first FROM on (the
 * global ARGs before it are not counted, nor checked, as in BuildKit); a tie counts as upper case.
 */
function checkCasing(nodes: InstructionNode[], linter: Linter): void {
  let lower = 0;
  let upper = 0;
  for (const node of nodes) {
    const word = node.keywordAsWritten;
    if (!selfConsistent(word)) continue;
    if (isLower(word)) lower++;
    else upper++;
  }
  const majorityLower = lower > upper;
  for (const node of nodes) {
    const word = node.keywordAsWritten;
    const casing = majorityLower ? (isLower(word) ? '' : 'lowercase') : (isUpper(word) ? '' : 'uppercase');
    if (casing) linter.report(RULES.ConsistentInstructionCasing, nodeRange(node), MESSAGES.ConsistentInstructionCasing(word, casing));
  }
}

/** The parse-time rules, in BuildKit's order: parser warnings, per instruction, stage names, casing. */
export function lintSyntax(parsed: ParsedDockerfile, linter: Linter): void {
  for (const warning of parsed.warnings) {
    if (warning.url !== RULES.NoEmptyContinuation.url) continue;
    // BuildKit places it on the instruction's last line.
    const line = warning.range.end.line;
    const range: SourceRange = { file: warning.range.file, start: { line, column: 1 }, end: { line, column: 1 } };
    linter.report(RULES.NoEmptyContinuation, range, MESSAGES.NoEmptyContinuation());
  }
  checkNodes(parsed, linter);
  const firstFrom = parsed.instructions.findIndex((n) => n.keyword === 'from');
  if (firstFrom < 0) return;
  const inStages = parsed.instructions.slice(firstFrom);
  checkStageNames(inStages.filter((n) => n.keyword === 'from'), linter);
  checkCasing(inStages, linter);
}
