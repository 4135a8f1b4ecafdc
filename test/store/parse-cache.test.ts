import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseDockerfile } from '../../src/syntax/index.ts';
import { planBuild } from '../../src/plan/index.ts';
import { clearParseCache, parseCacheDir, parseDockerfileCached } from '../../src/store/parse-cache.ts';

const CORPUS = path.resolve(import.meta.dirname, '../../../shared/corpus');

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? listFiles(full) : [full];
  });
}

describe('parse cache', () => {
  let root: string;
  let dir: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'berth-parse-cache-'));
    dir = parseCacheDir(root);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('gives back what the parser gives, for every real-world and heredoc Dockerfile', async () => {
    const files = [...listFiles(path.join(CORPUS, 'realworld')), ...listFiles(path.join(CORPUS, 'buildkit-parser-heredoc')).filter((f) => path.basename(f) === 'Dockerfile')];
    expect(files.length).toBeGreaterThan(150);
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      const fresh = parseDockerfile(text, 'Dockerfile');
      const first = parseDockerfileCached(text, 'Dockerfile', dir, 'build-1');
      const entries = readdirSync(dir).length;
      const again = parseDockerfileCached(text, 'Dockerfile', dir, 'build-1');
      expect(readdirSync(dir).length, file).toBe(entries);
      expect(first, file).toEqual(fresh);
      expect(again, file).toEqual(fresh);
      // Planning from the cached parse is the same as from a fresh one.
      const [planned, plannedAgain] = await Promise.all([planBuild(fresh), planBuild(again)]);
      expect(JSON.stringify(plannedAgain.vertices), file).toBe(JSON.stringify(planned.vertices));
    }
  });

  it('answers from the entry: a later parse does not run the parser', () => {
    const text = 'FROM scratch\nCOPY a /a\n';
    parseDockerfileCached(text, 'Dockerfile', dir, 'build-1');
    const [entry] = readdirSync(dir);
    const stored = JSON.parse(readFileSync(path.join(dir, entry), 'utf8'));
    stored.instructions[1].args = ['marker', '/a'];
    writeFileSync(path.join(dir, entry), JSON.stringify(stored));
    expect(parseDockerfileCached(text, 'Dockerfile', dir, 'build-1').instructions[1].args).toEqual(['marker', '/a']);
  });

  it('keys on the text, the file name and the build id', () => {
    parseDockerfileCached('FROM scratch\n', 'Dockerfile', dir, 'build-1');
    parseDockerfileCached('FROM scratch\n', 'Dockerfile', dir, 'build-2');
    parseDockerfileCached('FROM scratch\n', 'other.Dockerfile', dir, 'build-1');
    expect(parseDockerfileCached('FROM scratch \n', 'Dockerfile', dir, 'build-1').instructions[0].original).toBe('FROM scratch ');
    expect(readdirSync(dir)).toHaveLength(4);
    expect(parseDockerfileCached('FROM busybox\n', 'x', dir, 'build-1').file).toBe('x');
  });

  it('never caches bad input, and takes a damaged entry for a miss', () => {
    expect(() => parseDockerfileCached('FROM scratch\nRUN <<EOF\n', 'Dockerfile', dir, 'build-1')).toThrow();
    expect(() => parseDockerfileCached('# only a comment\n', 'Dockerfile', dir, 'build-1')).toThrow(/no instructions/);
    expect(() => readdirSync(dir)).toThrow(/ENOENT/);
    parseDockerfileCached('FROM scratch\n', 'Dockerfile', dir, 'build-1');
    const [entry] = readdirSync(dir);
    writeFileSync(path.join(dir, entry), '{"file": "Dockerf');
    expect(parseDockerfileCached('FROM scratch\n', 'Dockerfile', dir, 'build-1').instructions).toHaveLength(1);
    expect(JSON.parse(readFileSync(path.join(dir, entry), 'utf8')).instructions).toHaveLength(1);
  });

  it('writes nothing without a build id (runs from the sources) or a store', () => {
    expect(parseDockerfileCached('FROM scratch\n', 'Dockerfile', dir, undefined).instructions).toHaveLength(1);
    expect(parseDockerfileCached('FROM scratch\n', 'Dockerfile', undefined, 'build-1').instructions).toHaveLength(1);
    expect(() => readdirSync(dir)).toThrow(/ENOENT/);
  });

  it('is emptied by clearParseCache', () => {
    parseDockerfileCached('FROM scratch\n', 'Dockerfile', dir, 'build-1');
    parseDockerfileCached('FROM busybox\n', 'Dockerfile', dir, 'build-1');
    expect(clearParseCache(root)).toBe(2);
    expect(readdirSync(dir)).toHaveLength(0);
    expect(clearParseCache(path.join(root, 'missing'))).toBe(0);
  });
});
