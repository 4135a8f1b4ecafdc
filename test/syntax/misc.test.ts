import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BuildError } from '../../src/source/error.ts';
import { goQuote, MAX_LINE_BYTES, parseDockerfile, parseJsonArray, parseWords } from '../../src/syntax/index.ts';

const CORPUS = path.resolve(import.meta.dirname, '../../../shared/corpus');

const misc = JSON.parse(readFileSync(path.join(CORPUS, 'buildkit-parser-misc', 'cases.json'), 'utf8')) as {
  parseWords: { cases: { input: string; expect: string[] }[] };
  parseJSON: { valid: { input: string; expect: string[] }[]; invalid_not_string_array: string[] };
  emptyContinuationWarnings: {
    dockerfile: string;
    expect_warning_count: number;
    expect_short_contains: string[][];
    expect_detail0_contains: string;
  };
};

describe('buildkit-parser-misc: parseWords', () => {
  it.each(misc.parseWords.cases.map((c) => [c.input, c.expect] as const))('%j', (input, expected) => {
    expect(parseWords(input)).toEqual(expected);
  });

  it('keeps escapes and quotes, drops only an escape at the very end', () => {
    expect(parseWords('a\\ b "c d" \'e\\\' f')).toEqual(['a\\ b', '"c d"', "'e\\'", 'f']);
    expect(parseWords('a \\')).toEqual(['a']);
    expect(parseWords('"open \\')).toEqual(['"open ']);
    expect(parseWords('x`  y', '`')).toEqual(['x` ', 'y']);
  });
});

describe('buildkit-parser-misc: JSON arrays', () => {
  it.each(misc.parseJSON.valid.map((c) => [c.input, c.expect] as const))('%j is a string array', (input, expected) => {
    expect(parseJsonArray(input)).toEqual({ kind: 'strings', values: expected });
  });

  it.each(misc.parseJSON.invalid_not_string_array)('%j has a non-string element', (input) => {
    expect(parseJsonArray(input)).toEqual({ kind: 'not-strings' });
  });

  it.each(misc.parseJSON.invalid_not_string_array)('CMD %s is a parse error', (input) => {
    expect(() => parseDockerfile(`FROM a\nCMD ${input}\n`)).toThrow(BuildError);
  });

  it.each(['["a"] trailing', '["a",]', "['a']", '["a" "b"]', '["tab\there"]', '[1e999]', '["a"', 'x ["a"]'])(
    '%j is not JSON, so the shell form is used',
    (input) => {
      expect(parseJsonArray(input)).toEqual({ kind: 'not-json' });
      const node = parseDockerfile(`RUN ${input}`).instructions[0];
      expect(node.json).toBe(false);
      expect(node.args).toEqual([input]);
    },
  );

  it('decodes escapes like Go, including unpaired surrogates', () => {
    expect(parseJsonArray('["\\ud83d\\ude00", "\\ud800x", "\\u00e9\\/"]')).toEqual({ kind: 'strings', values: ['😀', '\ufffdx', 'é/'] });
  });

  it('uses the JSON form for every exec-capable instruction and splits lists', () => {
    const parsed = parseDockerfile('FROM a\nCOPY ["a b", "c"]\nVOLUME ["/v"]\nHEALTHCHECK CMD ["x"]\nSHELL ["sh", "-c"]\n');
    expect(parsed.instructions.slice(1).map((n) => [n.keyword, n.json, n.args])).toEqual([
      ['copy', true, ['a b', 'c']],
      ['volume', true, ['/v']],
      ['healthcheck', true, ['CMD', 'x']],
      ['shell', true, ['sh', '-c']],
    ]);
  });
});

describe('buildkit-parser-misc: empty continuation lines', () => {
  const { dockerfile, expect_warning_count, expect_short_contains, expect_detail0_contains } = misc.emptyContinuationWarnings;
  const parsed = parseDockerfile(dockerfile);

  it('warns once per instruction with empty continuation lines', () => {
    expect(parsed.warnings).toHaveLength(expect_warning_count);
    expect_short_contains.forEach((parts, i) => {
      for (const part of parts) expect(parsed.warnings[i].message).toContain(part);
    });
    expect(parsed.warnings[0].detail).toContain(expect_detail0_contains);
  });

  it('locates the warnings', () => {
    expect(parsed.warnings.map((w) => [w.range.start.line, w.range.end.line])).toEqual([
      [7, 11],
      [13, 15],
    ]);
  });

  it('does not warn for comment lines inside a continuation', () => {
    expect(parsed.instructions.map((n) => n.args[0])).toContain('non-indented    after-comment');
    expect(parsed.instructions.map((n) => n.args[0])).toContain('indented     comment');
  });
});

describe('buildkit-parser-misc: long lines', () => {
  it('rejects a line of 65536 bytes', () => {
    const text = `FROM a\nLABEL test=${'a'.repeat(65536)}\n`;
    let caught: BuildError | undefined;
    try {
      parseDockerfile(text);
    } catch (error) {
      caught = error as BuildError;
    }
    expect(caught).toBeInstanceOf(BuildError);
    expect(caught?.message).toBe('dockerfile line greater than max allowed size of 65535');
    expect(caught?.range?.start.line).toBe(2);
  });

  it('rejects it even as the only line', () => {
    expect(() => parseDockerfile(`LABEL test=${'a'.repeat(65536)}`)).toThrow('dockerfile line greater than max allowed size of 65535');
  });

  it('accepts exactly 65535 bytes, counting UTF-8 bytes', () => {
    const ok = `LABEL t=${'a'.repeat(MAX_LINE_BYTES - 8)}`;
    expect(parseDockerfile(ok).instructions[0].args[1]).toHaveLength(MAX_LINE_BYTES - 8);
    const multibyte = `LABEL t=${'é'.repeat(32764)}`; // 8 + 2 * 32764 = 65536 bytes
    expect(() => parseDockerfile(multibyte)).toThrow(BuildError);
  });

  it('lets an earlier error win over a later long line', () => {
    expect(() => parseDockerfile(`ENV k\nLABEL test=${'a'.repeat(70000)}`)).toThrow('ENV must have two arguments');
  });
});

describe('Go strconv.Quote', () => {
  it.each([
    ['plain', '"plain"'],
    ['a"b\\c', '"a\\"b\\\\c"'],
    ['\x07\b\f\n\r\t\v', '"\\a\\b\\f\\n\\r\\t\\v"'],
    ['\x00\x1b\x7f', '"\\x00\\x1b\\x7f"'],
    ['\u00a0\u00ad\u2028\ufeff', '"\\u00a0\\u00ad\\u2028\\ufeff"'],
    ['é♥☃😀', '"é♥☃😀"'],
    ['\u{e0001}', '"\\U000e0001"'],
    ['\ud800', '"\\xed\\xa0\\x80"'],
  ])('%j', (input, expected) => {
    expect(goQuote(input)).toBe(expected);
  });
});

describe('speed', () => {
  it('parses 10,000 instructions in well under a second', () => {
    let text = 'FROM alpine AS base\n';
    for (let i = 0; i < 10_000; i++) {
      text += [`RUN echo ${i} && \\\n    true`, `COPY --chown=1:1 a${i} /b/`, `ENV K${i}=v "x y"=z`, `CMD ["run", "${i}"]`][i % 4] + '\n';
    }
    parseDockerfile(text); // warm up
    const start = performance.now();
    const parsed = parseDockerfile(text);
    const elapsed = performance.now() - start;
    expect(parsed.instructions).toHaveLength(10_001);
    expect(elapsed).toBeLessThan(1000); // typically 20-40 ms; generous for loaded CI machines
  });
});
