/**
 * BuildKit's AST dump (parser.Node.Dump), byte for byte: one `(keyword ["flags"] "arg" ...)` line
 * per instruction, strings quoted with Go's strconv.Quote. Used to compare berth's parser with
 * BuildKit's golden files and by `--print`-style debugging.
 */
import type { InstructionNode, ParsedDockerfile } from './ast.ts';
import { trimGoSpace } from './words.ts';

/** Printable ASCII other than `"` and `\`: quoted as is. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
/** Go's unicode.IsPrint beyond ASCII: letters, marks, numbers, punctuation, symbols (no spaces). */
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

const SHORT_ESCAPES: Record<number, string> = { 7: '\\a', 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r' };

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** The UTF-8 bytes of a lone surrogate, which Go would hold as invalid UTF-8 and print as \xNN. */
function loneSurrogateBytes(unit: number): string {
  const bytes = [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)];
  return bytes.map((b) => `\\x${hex(b, 2)}`).join('');
}

/** Go's strconv.Quote. */
export function goQuote(s: string): string {
  if (PLAIN.test(s)) return `"${s}"`;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i);
    if (unit === 34) {
      out += '\\"';
    } else if (unit === 92) {
      out += '\\\\';
    } else if (unit >= 0x20 && unit < 0x7f) {
      out += s[i];
    } else if (unit < 0x20 || unit === 0x7f) {
      out += SHORT_ESCAPES[unit] ?? `\\x${hex(unit, 2)}`;
    } else if (unit >= 0xd800 && unit < 0xdc00 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      const pair = s.slice(i, i + 2);
      const cp = pair.codePointAt(0) as number;
      out += PRINTABLE.test(pair) ? pair : `\\U${hex(cp, 8)}`;
      i++;
    } else if (unit >= 0xd800 && unit < 0xe000) {
      out += loneSurrogateBytes(unit);
    } else {
      const ch = s[i];
      out += PRINTABLE.test(ch) ? ch : `\\u${hex(unit, 4)}`;
    }
  }
  return out + '"';
}

/** One instruction without the surrounding parentheses, as Node.Dump() prints it. */
export function dumpNode(node: InstructionNode): string {
  // Innermost first: an ONBUILD chain can be thousands deep, too deep to recurse.
  const chain: InstructionNode[] = [];
  for (let n: InstructionNode | undefined = node; n !== undefined; n = n.next) chain.push(n);
  let inner: string | undefined;
  for (let k = chain.length - 1; k >= 0; k--) {
    const n = chain[k];
    let str = n.keyword;
    if (n.flags.length > 0) str += ` [${n.flags.map(goQuote).join(' ')}]`;
    if (inner !== undefined) str += ` (${inner})`;
    for (const arg of n.args) str += ` ${goQuote(arg)}`;
    inner = trimGoSpace(str);
  }
  return inner!;
}

/** The whole file as BuildKit's dumper prints it: one parenthesised line per instruction. */
export function dumpDockerfile(parsed: ParsedDockerfile | { instructions: InstructionNode[] }): string {
  let out = '';
  for (const node of parsed.instructions) out += `(${dumpNode(node)})\n`;
  return out;
}
