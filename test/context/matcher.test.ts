/**
 * What the corpus tables leave open: when a walker may skip an excluded directory, the Go regexp
 * syntax that leaks through patternmatcher, ReadAll details, which ignore file is used, and the
 * finer points of filepath.Match and COPY wildcard detection.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BadPatternError,
  compileGlob,
  compileIgnore,
  findIgnoreFile,
  globMatch,
  hasGlobMeta,
  IgnorePatternError,
  readIgnoreFile,
} from '../../src/context/index.ts';

describe('mayContainIncluded', () => {
  const cases: [string[], string, boolean][] = [
    [['docs', '!docs/README.md'], 'docs', true],
    [['docs'], 'docs', false],
    [['docs', '!other/x'], 'docs', false],
    [['docs', '!**/keep'], 'docs', true],
    [['*', '!src'], 'node_modules', false],
    [['*', '!src'], 'src', true],
    [['a', '!a/b', 'a'], 'a', false],
    [['a/*', '!a/*/keep'], 'a/x', true],
    [['a/*', '!a/*/keep'], 'a/x/y', false],
    [['build', '!build/[ab]*/x'], 'build', true],
    [['!docs/x', 'docs'], 'docs', false],
    [['.git'], 'src', true],
  ];
  for (const [patterns, dir, expected] of cases) {
    it(`${JSON.stringify(patterns)} ${dir}`, () => {
      expect(compileIgnore(patterns).mayContainIncluded(dir)).toBe(expected);
    });
  }

  it('never lets a walker skip a directory holding an included path', () => {
    const tree = [
      'a/b/c', 'a/b/keep', 'a/keep', 'a/x/y/keep', 'docs/README.md', 'docs/guide/x.md', 'node_modules/p/index.js',
      'src/main.ts', 'src/keep/x', '.git/config', 'build/a1/x', 'build/c/x',
    ];
    const patternSets = [
      ['a', '!a/b/keep'], ['a/*', '!a/*/keep'], ['**/keep'], ['*', '!src', 'src/keep'], ['docs', '!docs/*.md'],
      ['*', '!**/keep'], ['build', '!build/[ab]*/x'], ['a', '!a/b', 'a/b/c'], ['**', '!a/x'], ['.*', '!.git/config'],
      ['a/b', '!a/b/*', 'a/b/keep'], ['*/*', '!*/keep'],
    ];
    for (const patterns of patternSets) {
      const matcher = compileIgnore(patterns);
      const dirs = new Set<string>();
      for (const file of tree) {
        const parts = file.split('/');
        for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
      }
      for (const dir of dirs) {
        if (matcher.mayContainIncluded(dir)) continue;
        for (const file of tree.filter((f) => f.startsWith(`${dir}/`))) {
          expect(matcher.matches(file), `${JSON.stringify(patterns)}: ${file} under skipped ${dir}`).toBe(true);
        }
      }
    }
  });
});

describe('Go regexp syntax that patternmatcher passes through', () => {
  it('treats Perl and POSIX classes as Go does', () => {
    const m = compileIgnore(['a\\d', '[[:upper:]]*.log']);
    expect(m.matches('a5')).toBe(true);
    expect(m.matches('ad')).toBe(false);
    expect(m.matches('X.log')).toBe(true);
    expect(m.matches('x.log')).toBe(false);
  });

  it('rejects what Go regexp rejects', () => {
    expect(() => compileIgnore(['a\\y'])).toThrow(IgnorePatternError);
    expect(() => compileIgnore(['[z-a]'])).toThrow('syntax error in pattern');
  });

  it('does not let ** cross a newline', () => {
    const m = compileIgnore(['**/*.txt']);
    expect(m.matches('x/y/a.txt')).toBe(true);
    expect(m.matches('x\ny/a.txt')).toBe(false);
  });

  it('keeps a lone ] literal, even after a class patternmatcher rewrote', () => {
    expect(compileIgnore(['a]b']).matches('a]b')).toBe(true);
    // `[?]` becomes the Go regexp ^[[^/]]$: a class of `[`, `^`, `/`, then a literal `]`.
    const m = compileIgnore(['[?]']);
    expect(m.matches('^]')).toBe(true);
    expect(m.matches('?')).toBe(false);
  });
});

describe('readIgnoreFile', () => {
  it('handles BOM, CRLF, comments and negations like ReadAll', () => {
    const text = '\ufeff# comment\r\n #not-a-comment\r\n!  /a/b/\r\n./c//d/../e\n\n  \t\n/\nlast';
    expect(readIgnoreFile(text)).toEqual(['#not-a-comment', '!a/b', 'c/e', '/', 'last']);
  });

  it('rejects a line longer than bufio.Scanner accepts', () => {
    expect(() => readIgnoreFile('x'.repeat(70_000))).toThrow('token too long');
    expect(readIgnoreFile('x'.repeat(65_535))).toHaveLength(1);
  });
});

describe('findIgnoreFile', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-ignore-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prefers <Dockerfile>.dockerignore over <context>/.dockerignore', async () => {
    mkdirSync(path.join(dir, 'sub'));
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\n');
    writeFileSync(path.join(dir, 'sub', 'app.Dockerfile'), 'FROM scratch\n');
    expect(await findIgnoreFile(dir, path.join(dir, 'Dockerfile'))).toBeUndefined();

    writeFileSync(path.join(dir, '.dockerignore'), 'x\n');
    expect(await findIgnoreFile(dir, path.join(dir, 'Dockerfile'))).toBe(path.join(dir, '.dockerignore'));
    expect(await findIgnoreFile(dir, path.join(dir, 'sub', 'app.Dockerfile'))).toBe(path.join(dir, '.dockerignore'));
    expect(await findIgnoreFile(dir, '-')).toBe(path.join(dir, '.dockerignore'));

    writeFileSync(path.join(dir, 'sub', 'app.Dockerfile.dockerignore'), 'y\n');
    expect(await findIgnoreFile(dir, path.join(dir, 'sub', 'app.Dockerfile'))).toBe(path.join(dir, 'sub', 'app.Dockerfile.dockerignore'));
    expect(await findIgnoreFile(dir, path.join(dir, 'Dockerfile'))).toBe(path.join(dir, '.dockerignore'));
  });

  it('ignores a directory named like an ignore file', async () => {
    const other = mkdtempSync(path.join(dir, 'ctx-'));
    mkdirSync(path.join(other, '.dockerignore'));
    expect(await findIgnoreFile(other)).toBeUndefined();
  });
});

describe('filepath.Match details', () => {
  it('rejects a malformed pattern whatever the name', () => {
    for (const pattern of ['a[', 'a/b[', '[a-', 'x[]', '*\\']) {
      expect(() => compileGlob(pattern), pattern).toThrow(BadPatternError);
    }
    expect(() => globMatch('a[', 'x')).toThrow(BadPatternError);
  });

  it('keeps stars within one path element but lets classes match a slash', () => {
    expect(globMatch('*', 'a/b')).toBe(false);
    expect(globMatch('*/b', 'a/b')).toBe(true);
    expect(globMatch('a[/]b', 'a/b')).toBe(true);
    expect(globMatch('a[^x]b', 'a/b')).toBe(true);
    expect(globMatch('', '')).toBe(true);
    expect(globMatch('', 'a')).toBe(false);
  });

  it('skips bytes, not characters, after a star (as Go does)', () => {
    // Go's star loop advances byte by byte, so two `?` can each eat a stray UTF-8 byte.
    expect(globMatch('*??', '☺')).toBe(true);
    expect(globMatch('??', '☺')).toBe(false);
    expect(globMatch('*.txt', 'héllo.txt')).toBe(true);
  });

  it('matches ranges by code point, astral ones included', () => {
    expect(globMatch('[😀-😂]', '😁')).toBe(true);
    expect(globMatch('?', '😁')).toBe(true);
  });
});

describe('hasGlobMeta', () => {
  it('finds unescaped wildcards only', () => {
    expect(hasGlobMeta('src/*.ts')).toBe(true);
    expect(hasGlobMeta('file?.txt')).toBe(true);
    expect(hasGlobMeta('[ab]')).toBe(true);
    expect(hasGlobMeta('plain/path')).toBe(false);
    expect(hasGlobMeta('a\\*b')).toBe(false);
    expect(hasGlobMeta('a\\\\*b')).toBe(true);
  });
});
