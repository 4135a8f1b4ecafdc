import { describe, expect, it } from 'vitest';
import { parseGitSource } from '../../src/copy/git.ts';
import { isGitSource } from '../../src/copy/match.ts';

describe('git source words', () => {
  it('are recognised as BuildKit recognises them', () => {
    for (const word of ['git@github.com:a/b.git', 'git://h/r.git', 'ssh://git@h/r', 'https://h/r.git', 'https://h/r.git#main:sub', 'https://h/r.git?ref=v1', 'file:///srv/r.git']) {
      expect(isGitSource(word), word).toBe(true);
    }
    for (const word of ['https://h/r.tar.gz', 'https://h/r.git.tar', 'file:///srv/r', 'src/']) expect(isGitSource(word), word).toBe(false);
  });

  it('take ref and subdir from the fragment', () => {
    expect(parseGitSource('https://h/r.git#v1.2:docs/')).toEqual({ remote: 'https://h/r.git', ref: 'v1.2', subdir: 'docs', submodules: true });
    expect(parseGitSource('git@h:r.git')).toEqual({ remote: 'git@h:r.git', subdir: '', submodules: true });
    expect(parseGitSource('https://h/r.git#:sub')).toEqual({ remote: 'https://h/r.git', subdir: 'sub', submodules: true });
  });

  it('take the query form: tag, branch, checksum, subdir, submodules, mtime', () => {
    expect(parseGitSource('https://h/r.git?tag=v1&subdir=a/b&submodules=false&checksum=abc1234&mtime=commit')).toEqual({
      remote: 'https://h/r.git', ref: 'refs/tags/v1', subdir: 'a/b', submodules: false, checksum: 'abc1234', mtime: 'commit',
    });
    expect(parseGitSource('https://h/r.git?branch=dev').ref).toBe('refs/heads/dev');
  });

  it('refuse unknown query keys and a subdir that leaves the repository', () => {
    expect(() => parseGitSource('https://h/r.git?depth=1')).toThrow(/unexpected query "depth"/);
    expect(() => parseGitSource('https://h/r.git#main:../etc')).toThrow(/leaves the repository/);
    expect(() => parseGitSource('https://h/r.git?mtime=now')).toThrow(/invalid mtime/);
  });
});
