import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { globMatch } from '../../src/context/glob.ts';
import { NO_FILTER } from '../../src/context/walk.ts';
import { parseChmod } from '../../src/copy/execute.ts';
import { urlFileName } from '../../src/copy/input.ts';
import { isGitSource, isHttpSource, matchSources, mayMatchBelow } from '../../src/copy/match.ts';
import { contextTree, expandSource } from '../../src/copy/source-tree.ts';
import type { CopyOp } from '../../src/plan/index.ts';
import { BuildError } from '../../src/source/index.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-copy-match-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function write(rel: string): void {
  mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  writeFileSync(path.join(dir, rel), `${rel}\n`);
}

const range = { file: 'Dockerfile', start: { line: 3, column: 1 }, end: { line: 3, column: 9 } };
function op(sources: string[], extra: Partial<CopyOp> = {}): CopyOp {
  return {
    kind: 'copy', add: false, from: { kind: 'context' }, sources, dest: '/d/', link: false, parents: false, exclude: [],
    keepGitDir: false, heredocs: [], user: '', cwd: '/', ...extra,
  };
}
const match = (o: CopyOp) => matchSources({ op: o, tree: contextTree(dir, NO_FILTER), range });

describe('source kinds', () => {
  it('tells URLs from git repositories as BuildKit does', () => {
    expect(isHttpSource('https://example.com/a.tar.gz')).toBe(true);
    expect(isHttpSource('https://github.com/moby/buildkit.git')).toBe(false);
    expect(isGitSource('https://github.com/moby/buildkit.git#v0.14.1:docs')).toBe(true);
    expect(isGitSource('git@github.com:moby/buildkit.git')).toBe(true);
    expect(isGitSource('git://host/repo')).toBe(true);
    expect(isGitSource('dir/file.git')).toBe(false);
  });

  it('refuses git sources with a clear error, and URLs for COPY', () => {
    expect(() => match(op(['git@github.com:moby/buildkit.git', 'b'], { add: true }))).toThrow(/ADD of a git repository takes one source/);
    expect(() => match(op(['https://example.com/x']))).toThrow("source can't be a URL for COPY");
    expect(() => match(op(['a'], { add: true, checksum: 'sha256:00' }))).toThrow(/non-HTTP/);
    expect(() => match(op(['a'], { checksum: 'sha256:00' }))).toThrow("checksum can't be specified for COPY");
  });

  it('names downloads after the URL path', () => {
    expect(urlFileName('http://127.0.0.1:8080/files/hello.txt?x=1')).toBe('hello.txt');
    expect(urlFileName('http://127.0.0.1:8080/a%20b.txt')).toBe('a b.txt');
    expect(urlFileName('http://127.0.0.1:8080/')).toBe('__unnamed__');
    expect(urlFileName('http://127.0.0.1:8080')).toBe('__unnamed__');
  });
});

describe('wildcards', () => {
  it('matches below the literal prefix without descending into matches or symlinks', () => {
    write('a/x.txt');
    write('a/y.md');
    write('a/sub/z.txt');
    mkdirSync(path.join(dir, 'real/in'), { recursive: true });
    write('real/in/f.txt');
    symlinkSync('real', path.join(dir, 'link'));
    const tree = contextTree(dir, NO_FILTER);
    expect(expandSource(tree, 'a/*.txt')).toEqual(['a/x.txt']);
    expect(expandSource(tree, '*/*.txt')).toEqual(['a/x.txt']);
    expect(expandSource(tree, '*/in/*.txt')).toEqual(['real/in/f.txt']);
    expect(expandSource(tree, 'link/*/f.txt')).toEqual(['real/in/f.txt']);
    expect(expandSource(tree, 'nomatch*')).toEqual([]);
    expect(expandSource(tree, 'a/[^x]*')).toEqual(['a/sub', 'a/y.md']);
  });

  it('applies --exclude to wildcard matches by their path below the wildcard', () => {
    write('home.txt');
    write('homer.md');
    write('homedir/a.txt');
    const found = match(op(['hom*'], { exclude: ['*.txt'] })).map((m) => m.rel);
    expect(found).toEqual(['homedir', 'homer.md']);
  });

  it('hides what .dockerignore excludes from matching', () => {
    write('keep.txt');
    write('drop.txt');
    chmodSync(path.join(dir, 'drop.txt'), 0o600);
    const tree = contextTree(dir, { excluded: (rel) => rel === 'drop.txt', mustDescend: () => false });
    expect(expandSource(tree, '*.txt')).toEqual(['keep.txt']);
    expect(tree.resolve('drop.txt')).toBeUndefined();
  });
});

describe('--parents', () => {
  it('splits the pivot at /./ and requires a plain path to exist', () => {
    write('x/y/a.txt');
    const [pivoted] = match(op(['./x/./y/*.txt'], { parents: true }));
    expect(pivoted.rel).toBe('x');
    expect(pivoted.include).toEqual(['y/*.txt']);
    const [rooted] = match(op(['./x/y/a.txt'], { parents: true }));
    expect(rooted.rel).toBe('');
    expect(rooted.include).toEqual(['x/y/a.txt']);
    expect(() => match(op(['./x/nope.txt'], { parents: true }))).toThrow(/not found/);
    expect(match(op(['./x/*.nope'], { parents: true }))).toHaveLength(1);
  });

  it('prunes directories no pattern can reach', () => {
    expect(mayMatchBelow('src/**/*.txt', 'src/a/b', globMatch)).toBe(true);
    expect(mayMatchBelow('src/*/c.txt', 'src/a', globMatch)).toBe(true);
    expect(mayMatchBelow('src/*/c.txt', 'lib', globMatch)).toBe(false);
  });
});

const chmod = (spec: string) => parseChmod(spec, range);

describe('--chmod', () => {
  it('takes octal modes whole, special bits included (newer BuildKit; 20.10 dropped them)', () => {
    expect(chmod('755')(0o644, false)).toBe(0o755);
    expect(chmod('0640')(0o4755, false)).toBe(0o640);
    expect(chmod('4755')(0o644, false)).toBe(0o4755);
  });

  it('refuses numbers that are not octal or above 07777', () => {
    expect(() => chmod('789')).toThrow(/between 0 and 07777/);
    expect(() => chmod('17777')).toThrow(BuildError);
  });

  it('applies symbolic modes as chmod(1) does', () => {
    const rX = chmod('u=rwX,go=rX');
    expect(rX(0o600, true)).toBe(0o755);
    expect(rX(0o600, false)).toBe(0o644);
    expect(rX(0o700, false)).toBe(0o755);
    expect(chmod('+x')(0o644, false)).toBe(0o755);
    expect(chmod('g=u')(0o640, false)).toBe(0o660);
    expect(chmod('o-r,u+s')(0o644, false)).toBe(0o4640);
    expect(chmod('a-w')(0o666, false)).toBe(0o444);
    expect(chmod('u+r-w')(0o200, false)).toBe(0o400);
    expect(chmod('+t')(0o777, true)).toBe(0o1777);
    expect(chmod('g+s')(0o755, true)).toBe(0o2755);
    expect(chmod('go=')(0o777, false)).toBe(0o700);
  });

  it('refuses what is neither', () => {
    expect(() => chmod('bogus')).toThrow(/invalid chmod parameter: 'bogus'/);
    expect(() => chmod('u+q')).toThrow(BuildError);
  });
});
