import type { InstructionNode } from '../syntax/ast.ts';
import { parseHeredoc } from '../syntax/heredoc.ts';
import { base, fail, keywordName, type ParseContext } from './common.ts';
import { parseFlags } from './flags.ts';
import type { CopyInstruction } from './types.ts';

/** COPY and ADD: sources then destination, JSON or whitespace-split; flags as each allows. */
export function parseCopyLike(node: InstructionNode, ctx: ParseContext): CopyInstruction {
  const flags = parseFlags(node, ctx.source);
  const args = node.args.filter((a, i) => !(i === 0 && a === '' && node.args.length === 1));
  if (args.length < 2) {
    fail(node, ctx, `${keywordName(node)} requires at least two arguments, but only ${args.length === 0 ? 'none were' : 'one was'} provided. Destination could not be determined`);
  }
  // BuildKit's parseSourcesAndDest: `COPY f <<EOF` is an error, not a file named "<<EOF" (Docker
  // 26; 20.10's frontend knew no heredocs and copied to /<<EOF).
  if (isHeredocWord(args[args.length - 1])) fail(node, ctx, `${keywordName(node)} cannot accept a heredoc as a destination`);
  return {
    kind: node.keyword === 'add' ? 'add' : 'copy',
    ...base(node),
    sources: args.slice(0, -1),
    dest: args[args.length - 1],
    heredocs: node.heredocs,
    json: node.json,
    from: flags.strings.get('from'),
    chown: flags.strings.get('chown'),
    chmod: flags.strings.get('chmod'),
    checksum: flags.strings.get('checksum'),
    link: flags.bools.get('link') ?? false,
    parents: flags.bools.get('parents') ?? false,
    keepGitDir: flags.bools.get('keep-git-dir') ?? false,
    unpack: flags.bools.get('unpack'),
    exclude: flags.lists.get('exclude') ?? [],
  };
}

function isHeredocWord(word: string): boolean {
  try {
    return parseHeredoc(word) !== null;
  } catch {
    return false; // BuildKit's MustParseHeredoc: a malformed one is no heredoc
  }
}
