/**
 * A strict JSON grammar (RFC 8259, as Go's encoding/json accepts it) used to recognise the exec form
 * of RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ADD, COPY and VOLUME:
 *
 *   document := array            (only arrays are candidates; trailing input is an error)
 *   batch    := array (Separator array)*     (many documents in one pass, see parseJsonArrayBatchCst)
 *   value    := String | Number | true | false | null | object | array
 *   array    := "[" (value ("," value)*)? "]"
 *   object   := "{" (String ":" value ("," String ":" value)*)? "}"
 *
 * Any lexing or parsing error means "not JSON", and the instruction falls back to its shell form;
 * deciding that a well-formed array with a non-string element is an error is semantics and lives in
 * src/syntax.
 */
import { CstParser, Lexer, createToken, type CstNode, type IToken } from 'chevrotain';
import { SKIP_GRAMMAR_VALIDATIONS } from './instruction.ts';

export const JsonWhitespace = createToken({
  name: 'JsonWhitespace',
  pattern: /[ \t\n\r]+/,
  group: Lexer.SKIPPED,
  line_breaks: true,
});
export const LBracket = createToken({ name: 'LBracket', pattern: '[' });
export const RBracket = createToken({ name: 'RBracket', pattern: ']' });
export const LCurly = createToken({ name: 'LCurly', pattern: '{' });
export const RCurly = createToken({ name: 'RCurly', pattern: '}' });
export const Comma = createToken({ name: 'Comma', pattern: ',' });
export const Colon = createToken({ name: 'Colon', pattern: ':' });
/** Raw control characters are not allowed inside JSON strings; only the listed escapes are. */
export const StringLiteral = createToken({
  name: 'StringLiteral',
  pattern: /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/,
});
export const NumberLiteral = createToken({
  name: 'NumberLiteral',
  pattern: /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/,
});
/** Separates documents in a batch: NUL can appear neither between JSON tokens nor raw in a string. */
export const Separator = createToken({ name: 'Separator', pattern: '\u0000' });
export const True = createToken({ name: 'True', pattern: 'true' });
export const False = createToken({ name: 'False', pattern: 'false' });
export const Null = createToken({ name: 'Null', pattern: 'null' });

export const jsonTokens = [
  JsonWhitespace,
  LBracket,
  RBracket,
  LCurly,
  RCurly,
  Comma,
  Colon,
  Separator,
  StringLiteral,
  NumberLiteral,
  True,
  False,
  Null,
];

export const jsonLexer = new Lexer(jsonTokens, { positionTracking: 'onlyOffset', skipValidations: SKIP_GRAMMAR_VALIDATIONS });

export interface JsonValueCst extends CstNode {
  children: {
    StringLiteral?: IToken[];
    NumberLiteral?: IToken[];
    True?: IToken[];
    False?: IToken[];
    Null?: IToken[];
    object?: CstNode[];
    array?: JsonArrayCst[];
  };
}

export interface JsonArrayCst extends CstNode {
  children: { LBracket: IToken[]; value?: JsonValueCst[]; Comma?: IToken[]; RBracket: IToken[] };
}

class JsonGrammar extends CstParser {
  constructor() {
    super(jsonTokens, { recoveryEnabled: false, nodeLocationTracking: 'none', maxLookahead: 1, skipValidations: SKIP_GRAMMAR_VALIDATIONS });
    this.performSelfAnalysis();
  }

  value = this.RULE('value', () => {
    this.OR([
      { ALT: () => this.CONSUME(StringLiteral) },
      { ALT: () => this.CONSUME(NumberLiteral) },
      { ALT: () => this.CONSUME(True) },
      { ALT: () => this.CONSUME(False) },
      { ALT: () => this.CONSUME(Null) },
      { ALT: () => this.SUBRULE(this.object) },
      { ALT: () => this.SUBRULE(this.array) },
    ]);
  });

  array = this.RULE('array', () => {
    this.CONSUME(LBracket);
    this.OPTION(() => {
      this.SUBRULE(this.value);
      this.MANY(() => {
        this.CONSUME(Comma);
        this.SUBRULE2(this.value);
      });
    });
    this.CONSUME(RBracket);
  });

  member = this.RULE('member', () => {
    this.CONSUME(StringLiteral);
    this.CONSUME(Colon);
    this.SUBRULE(this.value);
  });

  object = this.RULE('object', () => {
    this.CONSUME(LCurly);
    this.OPTION(() => {
      this.SUBRULE(this.member);
      this.MANY(() => {
        this.CONSUME(Comma);
        this.SUBRULE2(this.member);
      });
    });
    this.CONSUME(RCurly);
  });

  /** Top rule: one array and nothing after it (Chevrotain reports leftover tokens as an error). */
  document = this.RULE('document', () => {
    this.SUBRULE(this.array);
  });

  batch = this.RULE('batch', () => {
    this.SUBRULE(this.array);
    this.MANY(() => {
      this.CONSUME(Separator);
      this.SUBRULE2(this.array);
    });
  });
}

export const jsonGrammar = new JsonGrammar();

/**
 * Lexes and parses `text` as a JSON array. Returns the array's CST and the tokens, or null when
 * the text is not exactly one well-formed JSON array (surrounded by optional JSON whitespace).
 */
export function parseJsonArrayCst(text: string): { array: JsonArrayCst; tokens: IToken[] } | null {
  const lexed = jsonLexer.tokenize(text);
  if (lexed.errors.length > 0) return null;
  jsonGrammar.input = lexed.tokens;
  const doc = jsonGrammar.document();
  if (jsonGrammar.errors.length > 0) return null;
  const array = (doc.children.array as JsonArrayCst[] | undefined)?.[0];
  return array ? { array, tokens: lexed.tokens } : null;
}

/**
 * Parses several candidate documents in one lexer and parser pass (per-call overhead dominates for
 * short arrays). Returns one CST per document, or null if anything in the batch failed: the caller
 * then parses the documents one by one to find out which ones are not JSON.
 */
export function parseJsonArrayBatchCst(documents: string[]): { arrays: JsonArrayCst[]; tokens: IToken[] } | null {
  if (documents.length === 0) return { arrays: [], tokens: [] };
  for (const doc of documents) if (doc.includes('\u0000')) return null;
  const lexed = jsonLexer.tokenize(documents.join('\u0000'));
  if (lexed.errors.length > 0) return null;
  jsonGrammar.input = lexed.tokens;
  const batch = jsonGrammar.batch();
  if (jsonGrammar.errors.length > 0) return null;
  const arrays = (batch.children.array ?? []) as JsonArrayCst[];
  return arrays.length === documents.length ? { arrays, tokens: lexed.tokens } : null;
}
