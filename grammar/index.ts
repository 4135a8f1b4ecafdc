/**
 * The Chevrotain lexers and parsers of berth: Dockerfile instruction lines and the JSON arrays of
 * exec-form instructions. Tokens and grammar rules only; meaning is given in src/syntax.
 */
export {
  scanFlagWord,
  instructionLexer,
  instructionGrammar,
  instructionTokens,
  Newline,
  LineEnd,
  Whitespace,
  Keyword,
  EndOfFlags,
  Flag,
  Rest,
  type FlagScan,
  type InstructionCst,
  type DockerfileCst,
} from './instruction.ts';
export { jsonLexer, jsonGrammar, jsonTokens, parseJsonArrayCst, parseJsonArrayBatchCst, type JsonArrayCst, type JsonValueCst } from './json.ts';
