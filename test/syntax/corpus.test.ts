import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BuildError } from '../../src/source/error.ts';
import { dumpDockerfile, KNOWN_INSTRUCTIONS, parseDockerfile } from '../../src/syntax/index.ts';

const CORPUS = path.resolve(import.meta.dirname, '../../../shared/corpus');

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? listFiles(full) : [full];
  });
}

function caseDirs(name: string): string[] {
  return readdirSync(path.join(CORPUS, name), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

describe('buildkit-parser golden files', () => {
  const cases = caseDirs('buildkit-parser');

  it('has all 33 cases', () => {
    expect(cases).toHaveLength(33);
  });

  it.each(cases)('%s dumps byte for byte', (name) => {
    const dir = path.join(CORPUS, 'buildkit-parser', name);
    const text = readFileSync(path.join(dir, 'Dockerfile'), 'utf8');
    const expected = readFileSync(path.join(dir, 'result'), 'utf8');
    expect(dumpDockerfile(parseDockerfile(text))).toBe(expected);
  });
});

describe('buildkit-parser-negative', () => {
  const cases = caseDirs('buildkit-parser-negative');

  it('has all 4 cases', () => {
    expect(cases).toEqual(['empty_dockerfile', 'env_no_value', 'only_comments', 'shykes-nested-json']);
  });

  it.each(cases)('%s is rejected with a located BuildError', (name) => {
    const text = readFileSync(path.join(CORPUS, 'buildkit-parser-negative', name, 'Dockerfile'), 'utf8');
    let caught: unknown;
    try {
      parseDockerfile(text, 'neg/Dockerfile');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(BuildError);
    const error = caught as BuildError;
    expect(error.range).toBeDefined();
    expect(error.range?.file).toBe('neg/Dockerfile');
    expect(error.range?.start.line).toBeGreaterThanOrEqual(1);
    expect(error.source).toBe(text);
  });

  it('reports the messages BuildKit uses', () => {
    const message = (name: string): string => {
      try {
        parseDockerfile(readFileSync(path.join(CORPUS, 'buildkit-parser-negative', name, 'Dockerfile'), 'utf8'));
      } catch (error) {
        return (error as Error).message;
      }
      return '';
    };
    expect(message('empty_dockerfile')).toBe('file with no instructions');
    expect(message('only_comments')).toBe('file with no instructions');
    expect(message('env_no_value')).toBe('ENV must have two arguments');
    expect(message('shykes-nested-json')).toBe('when using JSON array syntax, arrays must be comprised of strings only');
  });

  it('points ENV without a value at its line', () => {
    const text = readFileSync(path.join(CORPUS, 'buildkit-parser-negative', 'env_no_value', 'Dockerfile'), 'utf8');
    const line = text.split('\n').findIndex((l) => l.startsWith('ENV')) + 1;
    expect(() => parseDockerfile(text)).toThrow(expect.objectContaining({ range: expect.objectContaining({ start: { line, column: 1 } }) }));
  });
});

describe('buildkit-parser-lines', () => {
  const dir = path.join(CORPUS, 'buildkit-parser-lines');
  const expected = JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8')) as {
    ast: { startLine: number; endLine: number };
    children: { startLine: number; endLine: number }[];
  };
  const parsed = parseDockerfile(readFileSync(path.join(dir, 'Dockerfile'), 'utf8'));

  it('gives every instruction the line range BuildKit gives it', () => {
    expect(parsed.instructions.map((node) => ({ startLine: node.range.start.line, endLine: node.range.end.line }))).toEqual(
      expected.children,
    );
  });

  it('spans the file from the first to the last instruction', () => {
    const first = parsed.instructions[0];
    const last = parsed.instructions[parsed.instructions.length - 1];
    expect({ startLine: first.range.start.line, endLine: last.range.end.line }).toEqual(expected.ast);
  });

  it('recognises the upper-case ESCAPE directive and the empty continuation lines', () => {
    expect(parsed.directives.escape).toBe('\\');
    expect(parsed.warnings).toHaveLength(1);
    expect(parsed.warnings[0].range.start.line).toBe(17);
  });
});

const REALWORLD = path.join(CORPUS, 'realworld');

const files = listFiles(REALWORLD).sort();

describe('realworld Dockerfiles', () => {
  it('are all there (181 files)', () => {
    expect(files).toHaveLength(181);
  });

  it.each(files.map((f) => [path.relative(REALWORLD, f), f] as const))('%s parses', (name, file) => {
    const text = readFileSync(file, 'utf8');
    const parsed = parseDockerfile(text, name);
    expect(parsed.instructions.length).toBeGreaterThan(0);
    for (const node of parsed.instructions) {
      expect(KNOWN_INSTRUCTIONS.has(node.keyword)).toBe(true);
      expect(node.range.file).toBe(name);
      expect(node.range.start.line).toBeLessThanOrEqual(node.range.end.line);
      // The keyword range points at the keyword as written in the file.
      const line = text.split('\n')[node.keywordRange.start.line - 1];
      expect(line.slice(node.keywordRange.start.column - 1).startsWith(node.keywordAsWritten)).toBe(true);
    }
    expect(dumpDockerfile(parsed).split('\n')).toHaveLength(parsed.instructions.length + 1);
  });

  it('finds the modern syntax the corpus README mentions', () => {
    const all = files.map((f) => [path.relative(REALWORLD, f), parseDockerfile(readFileSync(f, 'utf8'))] as const);
    const withHeredocs = all.filter(([, p]) => p.instructions.some((n) => n.heredocs.length > 0));
    const withMount = all.filter(([, p]) => p.instructions.some((n) => n.flags.some((f) => f.startsWith('--mount='))));
    const withSyntax = all.filter(([, p]) => p.directives.syntax !== undefined);
    expect(withHeredocs.length).toBeGreaterThan(0);
    expect(withHeredocs.every(([name]) => name.startsWith('moby__buildkit'))).toBe(true);
    expect(withMount.length).toBe(14);
    expect(withSyntax.every(([name]) => name.startsWith('moby__buildkit'))).toBe(true);
  });
});
