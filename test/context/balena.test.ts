/**
 * The @balena/dockerignore table (../shared/corpus/dockerignore/balena-cases.json), an outside JS
 * port of Docker's rules. Where it disagrees with Docker we assert Docker's answer:
 *  - `[CASE-INSENSITIVE]` assumes case-insensitive matching; Docker is case-sensitive.
 *  - `a\ ` trims to `a\`, which moby rejects as a bad pattern (balena expects "not ignored").
 *  - the empty path is not a path (balena's "invalid empty paths, just ignore"); Docker never asks.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileIgnore, IgnorePatternError, readIgnoreFile } from '../../src/context/index.ts';

interface BalenaCase {
  description: string;
  skip_docker: boolean;
  case_insensitive_only: boolean;
  patterns: string[] | null;
  dockerignore_text: string | null;
  expect_ignored: Record<string, boolean>;
}

const file = path.resolve(import.meta.dirname, '../../../shared/corpus/dockerignore/balena-cases.json');
const cases = (JSON.parse(readFileSync(file, 'utf8')) as { cases: BalenaCase[] }).cases;

describe('balena dockerignore cases, with Docker semantics', () => {
  it('has 66 cases and 376 path expectations', () => {
    expect(cases.length).toBe(66);
    expect(cases.reduce((n, c) => n + Object.keys(c.expect_ignored).length, 0)).toBe(376);
  });

  for (const c of cases) {
    it(c.description, () => {
      const text = c.patterns ? c.patterns.join('\n') : c.dockerignore_text!;
      const patterns = readIgnoreFile(text);
      if (c.description.startsWith('Trailing spaces with backslashes never match')) {
        expect(() => compileIgnore(patterns)).toThrow(IgnorePatternError);
        expect(() => compileIgnore(patterns)).toThrow('syntax error in pattern');
        return;
      }
      const matcher = compileIgnore(patterns);
      for (const [p, ignored] of Object.entries(c.expect_ignored)) {
        if (p === '') continue;
        const docker = c.case_insensitive_only && ignored ? false : ignored;
        expect(matcher.matches(p), `${JSON.stringify(p)} ignored`).toBe(docker);
      }
    });
  }
});
