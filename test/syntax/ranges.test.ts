import { describe, expect, it } from 'vitest';
import { formatBuildError } from '../../src/source/error.ts';
import type { SourceRange } from '../../src/source/range.ts';
import { BuildError } from '../../src/source/error.ts';
import { dumpDockerfile, parseDockerfile, type InstructionNode } from '../../src/syntax/index.ts';

function r(startLine: number, startColumn: number, endLine: number, endColumn: number, file = 'Dockerfile'): SourceRange {
  return { file, start: { line: startLine, column: startColumn }, end: { line: endLine, column: endColumn } };
}

/** The source text a range covers (single-line ranges). */
function textAt(source: string, range: SourceRange): string {
  const line = source.split(/\r?\n/)[range.start.line - 1];
  return line.slice(range.start.column - 1, range.end.column - 1);
}

function only(text: string, index = 0): InstructionNode {
  return parseDockerfile(text).instructions[index];
}

describe('source ranges', () => {
  it('covers instruction, keyword and rest on one line', () => {
    const node = only('FROM alpine\nRUN echo hi\n', 1);
    expect(node.range).toEqual(r(2, 1, 2, 12));
    expect(node.keywordRange).toEqual(r(2, 1, 2, 4));
    expect(node.restRange).toEqual(r(2, 5, 2, 12));
  });

  it('counts leading blanks and trailing blanks', () => {
    const source = '\t  run   echo hi  \n';
    const node = only(source);
    expect(node.keyword).toBe('run');
    expect(node.keywordAsWritten).toBe('run');
    expect(node.keywordRange).toEqual(r(1, 4, 1, 7));
    expect(node.rest).toBe('echo hi');
    expect(textAt(source, node.restRange as SourceRange)).toBe('echo hi');
    expect(node.range).toEqual(r(1, 4, 1, 19));
    expect(node.original).toBe('run   echo hi  ');
  });

  it('gives each flag its range, quotes included', () => {
    const source = 'COPY --from=build  --chown="a b" --link src /dst';
    const node = only(source);
    expect(node.flags).toEqual(['--from=build', '--chown=a b', '--link']);
    expect(node.flagRanges.map((range) => textAt(source, range))).toEqual(['--from=build', '--chown="a b"', '--link']);
    expect(node.rest).toBe('src /dst');
    expect(textAt(source, node.restRange as SourceRange)).toBe('src /dst');
  });

  it('maps offsets in continued lines back to their physical lines', () => {
    const source = 'FROM a\nRUN --mount=type=cache,target=/c \\\n    apt-get update \\\n    # comment\n\n    && rm -rf /x\n';
    const node = only(source, 1);
    expect(node.range).toEqual(r(2, 1, 6, 17));
    expect(node.flagRanges).toEqual([r(2, 5, 2, 33)]);
    expect(node.restRange).toEqual(r(3, 5, 6, 17));
    expect(node.args).toEqual(['apt-get update     && rm -rf /x']);
    expect(node.original).toBe('RUN --mount=type=cache,target=/c     apt-get update     && rm -rf /x');
  });

  it('follows a keyword split by a continuation', () => {
    const node = only('RU\\\nN echo');
    expect(node.keyword).toBe('run');
    expect(node.keywordRange).toEqual(r(1, 1, 2, 2));
    expect(node.restRange).toEqual(r(2, 3, 2, 7));
  });

  it('places ONBUILD sub-instructions inside the line', () => {
    const source = 'ONBUILD   COPY --from=x a b';
    const node = only(source);
    expect(node.rest).toBe('COPY --from=x a b');
    expect(node.args).toEqual([]);
    const next = node.next as InstructionNode;
    expect(next.keyword).toBe('copy');
    expect(next.original).toBe('COPY --from=x a b');
    expect(textAt(source, next.keywordRange)).toBe('COPY');
    expect(textAt(source, next.flagRanges[0])).toBe('--from=x');
    expect(textAt(source, next.restRange as SourceRange)).toBe('a b');
    expect(dumpDockerfile({ instructions: [node] })).toBe('(onbuild (copy ["--from=x"] "a" "b"))\n');
  });

  it('uses the file name given', () => {
    expect(parseDockerfile('FROM a', 'ctx/Dockerfile.dev').instructions[0].range.file).toBe('ctx/Dockerfile.dev');
  });
});

describe('line endings and byte order mark', () => {
  it('treats CRLF like LF and keeps \\r out of arguments and ranges', () => {
    const parsed = parseDockerfile('FROM a\r\nRUN b \\\r\n  c\r\nENV k v\r\n');
    expect(dumpDockerfile(parsed)).toBe('(from "a")\n(run "b   c")\n(env "k" "v" "")\n');
    expect(parsed.instructions[1].range).toEqual(r(2, 1, 3, 4));
    expect(parsed.instructions[2].range).toEqual(r(4, 1, 4, 8));
  });

  it('keeps a lone \\r inside a line (only \\n ends lines)', () => {
    expect(only('RUN a\rb').args).toEqual(['a\rb']);
  });

  it('drops the BOM, before directives too, and keeps columns of the text without it', () => {
    const parsed = parseDockerfile('\uFEFF# escape=`\nFROM a\nRUN b `\n  c\n');
    expect(parsed.source.startsWith('#')).toBe(true);
    expect(parsed.directives.escape).toBe('`');
    expect(parsed.instructions[1].args).toEqual(['b   c']);
    expect(parsed.instructions[0].range).toEqual(r(2, 1, 2, 7));
  });
});

describe('parser directives', () => {
  it('reads syntax, escape and check, case-insensitively, with blanks around =', () => {
    const parsed = parseDockerfile('#SYNTAX = docker/dockerfile:1.7\n#  Escape=`\n# check=skip=all;error=true\nFROM a `\n  AS b\n');
    expect(parsed.directives).toEqual({ syntax: 'docker/dockerfile:1.7', escape: '`', check: 'skip=all;error=true' });
    expect(parsed.instructions[0].args).toEqual(['a', 'AS', 'b']);
  });

  it('only looks at the top: after a comment, a blank line or an unknown directive they are comments', () => {
    for (const prefix of ['# hello\n', '\n', '# foo=bar\n', 'FROM a\n']) {
      const parsed = parseDockerfile(`${prefix}# escape=\`\nFROM x\nRUN a \\\n  b\n`);
      expect(parsed.directives.escape).toBe('\\');
      expect(parsed.instructions[parsed.instructions.length - 1].args).toEqual(['a   b']);
    }
  });

  it('uses the escape character for continuations and words, but a backslash stays literal', () => {
    const parsed = parseDockerfile('# escape=`\nFROM a\nENV P C:\\path `\n  more\nCOPY C:\\src\\ D:\\\n');
    expect(dumpDockerfile(parsed)).toBe('(from "a")\n(env "P" "C:\\\\path   more" "")\n(copy "C:\\\\src\\\\" "D:\\\\")\n');
  });

  it('rejects a bad escape character and duplicated directives, pointing at the line', () => {
    expect(() => parseDockerfile('# escape=x\nFROM a')).toThrow(
      expect.objectContaining({ message: "invalid escape token 'x' does not match ` or \\", range: r(1, 1, 1, 11) }),
    );
    expect(() => parseDockerfile('# syntax=a\n# syntax=b\nFROM a')).toThrow(
      expect.objectContaining({ message: 'only one syntax parser directive can be used', range: r(2, 1, 2, 11) }),
    );
  });
});

describe('continuations', () => {
  it('joins lines keeping the blanks of continuation lines', () => {
    expect(only('RUN a \\\n\tb\\\nc').args).toEqual(['a \tbc']);
  });

  it('does not continue after an escaped escape character', () => {
    const parsed = parseDockerfile('RUN a \\\\\nRUN b');
    expect(parsed.instructions.map((n) => n.args[0])).toEqual(['a \\\\', 'b']);
  });

  it('accepts a continuation at the end of the file, and blanks after the escape', () => {
    expect(only('RUN a \\ \t').args).toEqual(['a']);
    expect(only('FROM a\nRUN a \\', 1).range).toEqual(r(2, 1, 2, 8));
  });

  it('keeps a line of only white space as an instruction without keyword, as BuildKit does', () => {
    const parsed = parseDockerfile('FROM a\n\\\n  \\\n');
    expect(parsed.instructions).toHaveLength(2);
    expect(parsed.instructions[1].keyword).toBe('');
    expect(dumpDockerfile(parsed)).toBe('(from "a")\n("")\n');
  });
});

describe('instructions and arguments', () => {
  it('keeps unknown instructions for the instruction layer', () => {
    const node = only('FROM a\nFOO bar baz', 1);
    expect(node).toMatchObject({ keyword: 'foo', keywordAsWritten: 'FOO', args: [''], rest: 'bar baz' });
  });

  it('tells JSON from shell form and keeps the raw rest', () => {
    const parsed = parseDockerfile('CMD ["a", "b"]\nCMD a b\nENTRYPOINT []\nRUN [ "x" ]\n');
    expect(parsed.instructions.map((n) => [n.json, n.args, n.rest])).toEqual([
      [true, ['a', 'b'], '["a", "b"]'],
      [false, ['a b'], 'a b'],
      [true, [], '[]'],
      [true, ['x'], '[ "x" ]'],
    ]);
  });

  it('extracts flags as BuildKit does (`--` ends them; later words are arguments)', () => {
    const parsed = parseDockerfile('COPY -- --weird /x\nRUN --network=none echo --not-a-flag\nCOPY --a="b c"d\\ e f g\n');
    expect(parsed.instructions.map((n) => [n.flags, n.args])).toEqual([
      [[], ['--weird', '/x']],
      [['--network=none'], ['echo --not-a-flag']],
      [['--a=b cd e'], ['f', 'g']],
    ]);
  });

  it('parses every instruction of the reference', () => {
    const text = [
      'FROM --platform=$BUILDPLATFORM golang:1.22 AS build',
      'ARG A B=2',
      'ENV A=1 B="2 3"',
      'LABEL a=b',
      'MAINTAINER me <me@x>',
      'EXPOSE 80/tcp 443',
      'ADD --chmod=644 http://x/y /z',
      'COPY a b',
      'VOLUME /data',
      'USER 1000:1000',
      'WORKDIR /src',
      'STOPSIGNAL SIGTERM',
      'HEALTHCHECK --interval=5s CMD curl -f http://localhost/',
      'SHELL ["/bin/bash", "-c"]',
      'ONBUILD RUN make',
      'ENTRYPOINT ["/app"]',
      'CMD ["--help"]',
    ].join('\n');
    expect(dumpDockerfile(parseDockerfile(text))).toBe(
      [
        '(from ["--platform=$BUILDPLATFORM"] "golang:1.22" "AS" "build")',
        '(arg "A" "B=2")',
        '(env "A" "1" "=" "B" "\\"2 3\\"" "=")',
        '(label "a" "b" "=")',
        '(maintainer "me <me@x>")',
        '(expose "80/tcp" "443")',
        '(add ["--chmod=644"] "http://x/y" "/z")',
        '(copy "a" "b")',
        '(volume "/data")',
        '(user "1000:1000")',
        '(workdir "/src")',
        '(stopsignal "SIGTERM")',
        '(healthcheck ["--interval=5s"] "CMD" "curl -f http://localhost/")',
        '(shell "/bin/bash" "-c")',
        '(onbuild (run "make"))',
        '(entrypoint "/app")',
        '(cmd "--help")',
        '',
      ].join('\n'),
    );
  });

  it('rejects a key=value list with a bare word', () => {
    expect(() => parseDockerfile('LABEL a=b c')).toThrow('Syntax error - can\'t find = in "c". Must be of the form: name=value');
  });
});

describe('errors', () => {
  it('carries the source for a code frame', () => {
    let caught: BuildError | undefined;
    try {
      parseDockerfile('\uFEFFFROM a\nENV onlykey\n', 'app/Dockerfile');
    } catch (error) {
      caught = error as BuildError;
    }
    expect(caught?.range).toEqual(r(2, 1, 2, 12, 'app/Dockerfile'));
    expect(formatBuildError(caught as BuildError)).toBe(
      ['app/Dockerfile:2:1: ENV must have two arguments', '  1 | FROM a', '> 2 | ENV onlykey', '    | ^', '  3 | '].join('\n'),
    );
  });

  it('names the nested JSON problem at the instruction inside ONBUILD', () => {
    expect(() => parseDockerfile('FROM a\nONBUILD CMD ["a", 1]')).toThrow(expect.objectContaining({ range: r(2, 9, 2, 21) }));
  });
});
