import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BuildError } from '../../src/source/error.ts';
import {
  chompHeredocContent,
  dumpDockerfile,
  heredocsFromLine,
  parseDockerfile,
  parseHeredoc,
  type Heredoc,
} from '../../src/syntax/index.ts';

const CORPUS = path.resolve(import.meta.dirname, '../../../shared/corpus');

interface GoHeredoc {
  Name: string;
  FileDescriptor: number;
  Expand: boolean;
  Chomp: boolean;
  Content: string;
}

const cases = JSON.parse(readFileSync(path.join(CORPUS, 'buildkit-parser-heredoc', 'cases.json'), 'utf8')) as {
  extract: { dockerfile: string; children: { go_comment: string; heredocs: GoHeredoc[] | null; ast_child_index: number }[] };
  json_form: { json_dockerfile: string; children_without_heredocs: number[] };
  helpers: { valid: string[]; invalid: string[]; not_heredoc: string[]; chomp_example: { input: string; output: string } };
  from_line: { line: string; heredocNames: string[] | null }[];
};

function asGo(heredocs: Heredoc[]): GoHeredoc[] | null {
  if (heredocs.length === 0) return null;
  return heredocs.map((h) => ({ Name: h.name, FileDescriptor: h.fileDescriptor, Expand: h.expand, Chomp: h.chomp, Content: h.rawContent }));
}

describe('buildkit-parser-heredoc: extraction', () => {
  const parsed = parseDockerfile(cases.extract.dockerfile);

  it('finds the 28 instructions (FROM plus the 27 checked children)', () => {
    expect(parsed.instructions).toHaveLength(28);
    expect(parsed.instructions[0].keyword).toBe('from');
  });

  it.each(cases.extract.children.map((c) => [c.go_comment, c] as const))('%s', (_name, child) => {
    expect(asGo(parsed.instructions[child.ast_child_index].heredocs)).toEqual(child.heredocs);
  });

  it('treats USER <<INVALID as no heredoc, so the next line is an unknown instruction', () => {
    expect(parsed.instructions[3].keyword).toBe('user');
    expect(parsed.instructions[4].keyword).toBe('invalid');
    expect(parsed.instructions[4].args).toEqual(['']);
  });

  it('does not print heredoc bodies in the dump', () => {
    const dump = dumpDockerfile(parsed).split('\n');
    expect(dump).toContain('(copy "<<FILE1" "<<FILE2" "/dest")');
    expect(dump).toContain('(run ["--mount=type=cache,target=/foo"] "<<MOUNT")');
    expect(dump.join('\n')).not.toContain('content 1');
  });

  it('strips leading tabs from `content` for <<- but keeps `rawContent`', () => {
    const unindent = parsed.instructions[9].heredocs[0];
    expect(unindent.rawContent).toBe('\tbaz\n\tquux\n');
    expect(unindent.content).toBe('baz\nquux\n');
    const indent = parsed.instructions[8].heredocs[0];
    expect(indent.content).toBe('\tfoo\n\tbar\n');
  });
});

describe('buildkit-parser-heredoc: JSON form', () => {
  const parsed = parseDockerfile(cases.json_form.json_dockerfile);
  it.each(cases.json_form.children_without_heredocs)('child %i has no heredocs', (index) => {
    expect(parsed.instructions[index].heredocs).toEqual([]);
    expect(parsed.instructions[index].json).toBe(true);
  });
});

describe('buildkit-parser-heredoc: helpers', () => {
  it.each(cases.helpers.valid)('ParseHeredoc(%j) is EOF', (word) => {
    expect(parseHeredoc(word)?.name).toBe('EOF');
  });

  it.each(cases.helpers.invalid)('ParseHeredoc(%j) is an error', (word) => {
    expect(() => parseHeredoc(word)).toThrow();
  });

  it.each(cases.helpers.not_heredoc)('ParseHeredoc(%j) is not a heredoc', (word) => {
    expect(parseHeredoc(word)).toBeNull();
  });

  it('ChompHeredocContent', () => {
    expect(chompHeredocContent(cases.helpers.chomp_example.input)).toBe(cases.helpers.chomp_example.output);
  });

  it('knows quoting, chomping and file descriptors', () => {
    expect(parseHeredoc("<<-'EOF'")).toEqual({ name: 'EOF', fileDescriptor: 0, expand: false, chomp: true });
    expect(parseHeredoc('<<EO"F"')).toEqual({ name: 'EOF', fileDescriptor: 0, expand: false, chomp: false });
    expect(parseHeredoc('12<<EOF')).toEqual({ name: 'EOF', fileDescriptor: 12, expand: true, chomp: false });
  });
});

describe('buildkit-parser-heredoc: heredocsFromLine (exact names)', () => {
  it.each(cases.from_line.map((c) => [c.line, c.heredocNames] as const))('%s', (line, names) => {
    expect(heredocsFromLine(line).map((h) => h.name)).toEqual(names ?? []);
  });
});

describe('heredoc edge cases', () => {
  it('gives body ranges and keeps line numbers right after the bodies', () => {
    const parsed = parseDockerfile('FROM a\nCOPY <<one <<two /dst/\nfirst\none\nsecond\nmore\ntwo\nRUN done\n');
    const copy = parsed.instructions[1];
    expect(copy.range).toEqual({ file: 'Dockerfile', start: { line: 2, column: 1 }, end: { line: 2, column: 23 } });
    expect(copy.heredocs.map((h) => [h.name, h.content, h.range.start.line, h.range.end.line])).toEqual([
      ['one', 'first\n', 3, 4],
      ['two', 'second\nmore\n', 5, 7],
    ]);
    expect(copy.heredocs[1].range.end.column).toBe(4);
    expect(parsed.instructions[2].keyword).toBe('run');
    expect(parsed.instructions[2].range.start.line).toBe(8);
  });

  it('reads bodies verbatim: comments, instructions, continuations and blank lines', () => {
    const body = '# not a comment\nRUN not an instruction \\\n\n  indented\n';
    const parsed = parseDockerfile(`FROM a\nRUN <<EOF\n${body}EOF\n`);
    expect(parsed.instructions).toHaveLength(2);
    expect(parsed.instructions[1].heredocs[0].content).toBe(body);
    expect(parsed.warnings).toEqual([]);
  });

  it('needs the terminator alone on its line (only tabs may precede it with <<-)', () => {
    const parsed = parseDockerfile('FROM a\nRUN <<-EOF\n\tx\n  EOF\nEOF \n\t\tEOF\nRUN y\n');
    expect(parsed.instructions[1].heredocs[0].rawContent).toBe('\tx\n  EOF\nEOF \n');
    expect(parsed.instructions[2].rest).toBe('y');
  });

  it('keeps CRLF line endings in the body and matches CRLF terminators', () => {
    const parsed = parseDockerfile('FROM a\r\nRUN <<EOF\r\necho hi\r\nEOF\r\nRUN after\r\n');
    expect(parsed.instructions[1].heredocs[0].content).toBe('echo hi\r\n');
    expect(parsed.instructions[2].args).toEqual(['after']);
  });

  it('starts the bodies after the last line of a continued instruction', () => {
    const parsed = parseDockerfile('FROM a\nRUN cat \\\n  <<EOF \\\n  > /out\nbody\nEOF\n');
    const run = parsed.instructions[1];
    expect(run.args).toEqual(['cat   <<EOF   > /out']);
    expect(run.range.end.line).toBe(4);
    expect(run.heredocs[0]).toMatchObject({ name: 'EOF', content: 'body\n', range: { start: { line: 5, column: 1 } } });
  });

  it('attaches ONBUILD heredocs to the ONBUILD node and its sub-instruction', () => {
    const parsed = parseDockerfile('FROM a\nONBUILD RUN <<EOF\necho later\nEOF\n');
    const onbuild = parsed.instructions[1];
    expect(onbuild.heredocs[0].content).toBe('echo later\n');
    expect(onbuild.next?.heredocs).toBe(onbuild.heredocs);
    expect(dumpDockerfile(parsed)).toBe('(from "a")\n(onbuild (run "<<EOF"))\n');
  });

  it('ignores heredoc syntax in the exec form and in other instructions', () => {
    const parsed = parseDockerfile('FROM a\nRUN ["cat", "<<EOF"]\nLABEL x=<<EOF\nEOF\n');
    expect(parsed.instructions.map((n) => n.keyword)).toEqual(['from', 'run', 'label', 'eof']);
    expect(parsed.instructions.every((n) => n.heredocs.length === 0)).toBe(true);
  });

  it('handles a heredoc as the last thing in the file without a final newline', () => {
    const parsed = parseDockerfile('FROM a\nRUN <<EOF\nlast\nEOF');
    expect(parsed.instructions[1].heredocs[0].content).toBe('last\n');
  });

  it('reports an unterminated heredoc with the instruction and end of file', () => {
    let caught: BuildError | undefined;
    try {
      parseDockerfile('FROM a\nRUN <<EOF\necho hi\n', 'x/Dockerfile');
    } catch (error) {
      caught = error as BuildError;
    }
    expect(caught).toBeInstanceOf(BuildError);
    expect(caught?.message).toBe('unterminated heredoc');
    expect(caught?.range).toEqual({ file: 'x/Dockerfile', start: { line: 2, column: 1 }, end: { line: 3, column: 8 } });
  });

  it('lets an earlier instruction error win over a later unterminated heredoc', () => {
    expect(() => parseDockerfile('FROM a\nENV k\nRUN <<EOF\n')).toThrow('ENV must have two arguments');
  });

  it('does not see a heredoc when the line has an unterminated quote (BuildKit ignores that lexing error)', () => {
    const parsed = parseDockerfile("FROM a\nRUN <<'EOF\nx\nEOF\n");
    expect(parsed.instructions.map((n) => n.keyword)).toEqual(['from', 'run', 'x', 'eof']);
  });
});
