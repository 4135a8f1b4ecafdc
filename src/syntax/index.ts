/**
 * The Dockerfile parser: text in, instruction nodes with source ranges out (BuildKit's parser
 * package, including its AST dump and argument-level helpers).
 */
export type { Heredoc, InstructionNode, ParsedDockerfile, ParserDirectives, ParseWarning } from './ast.ts';
export { parseDockerfile } from './parse.ts';
export { dumpDockerfile, dumpNode, goQuote } from './dump.ts';
export { ArgumentError, KNOWN_INSTRUCTIONS, parseArguments, type ParsedArguments } from './arguments.ts';
export {
  chompHeredocContent,
  HEREDOC_INSTRUCTIONS,
  heredocsFromLine,
  HeredocSyntaxError,
  parseHeredoc,
  shellWords,
  type HeredocHeader,
} from './heredoc.ts';
export {
  decodeJsonString,
  isGoSpace,
  NOT_STRING_ARRAY,
  parseJsonArray,
  parseWords,
  splitBlanks,
  trimGoSpace,
  type JsonArrayResult,
} from './words.ts';
export { MAX_LINE_BYTES } from './lines.ts';
