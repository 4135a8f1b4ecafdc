/**
 * No function in src/ is longer than 80 lines (the project's convention): functions, methods,
 * arrows and function expressions, measured from their first to their last line.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(import.meta.dirname, '../../src');
const LIMIT = 80;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

function longFunctions(file: string, text = readFileSync(file, 'utf8')): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      if (last - first + 1 > LIMIT) found.push(`${path.relative(SRC, file)}:${first + 1} (${last - first + 1} lines)`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe('function length in src/', () => {
  it(`has no function over ${LIMIT} lines`, () => {
    expect(sourceFiles(SRC).flatMap((file) => longFunctions(file))).toEqual([]);
  });

  it('finds a long function, an arrow and a method alike', () => {
    const body = Array.from({ length: LIMIT }, (_, i) => `  const v${i} = ${i};`).join('\n');
    const text = `function f(): void {\n${body}\n}\nconst g = () => {\n${body}\n};\nclass C { m(): void {\n${body}\n} }\nfunction short(): void {}\n`;
    expect(longFunctions(path.join(SRC, 'fixture.ts'), text)).toHaveLength(3);
  });
});
