/**
 * BuildKit's own rule pages (../shared/corpus/buildkit-rules): every "❌ Bad" example must be
 * flagged by its rule, every "✅ Good" one must not be. The pages' "Output" sections paraphrase
 * some messages; the exact messages BuildKit prints are checked in lint.test.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDockerfile } from '../../src/syntax/index.ts';
import { compileIgnore } from '../../src/context/dockerignore.ts';
import { lintDockerfile, RULES } from '../../src/lint/index.ts';

const DIR = path.resolve(import.meta.dirname, '../../../shared/corpus/buildkit-rules');

interface Example { good: boolean; dockerfile: string }

/** The dockerfile blocks that follow a ❌/✅ line, in page order. */
function examples(page: string): Example[] {
  const out: Example[] = [];
  let label: boolean | undefined;
  const lines = page.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].startsWith('❌')) label = false;
    else if (lines[i].startsWith('✅')) label = true;
    else if (lines[i].startsWith('```dockerfile') && label !== undefined) {
      const body: string[] = [];
      for (i++; !lines[i].startsWith('```'); i++) body.push(lines[i]);
      out.push({ good: label, dockerfile: `${body.join('\n')}\n` });
      label = undefined;
    }
  }
  return out;
}

const pages = readdirSync(DIR).filter((f) => f.endsWith('.md') && f !== '_index.md');
const ruleOf = (page: string): string => /^title: (\S+)/m.exec(page)![1];

/**
 * Examples are fragments: one without FROM gets `FROM scratch` first (BuildKit would stop at "no
 * build stage" before any stage rule ran), and `...` lines stand for elided instructions.
 */
function runnable(dockerfile: string): string {
  const text = dockerfile.split('\n').filter((l) => l.trim() !== '...').join('\n');
  return /^from /im.test(text) ? text : `FROM scratch\n${text}`;
}

/**
 * Where the page and BuildKit disagree, BuildKit wins (it is what `docker build --check` runs):
 * BuildKit's ARG takes each word as its own declaration (`ARG foo bar` declares foo and bar), and
 * only ENV and LABEL pairs carry the legacy flag, so this "bad" example is not flagged by Docker.
 */
const NOT_FLAGGED_BY_BUILDKIT = new Set(['FROM alpine\nARG foo bar\n']);

// The base image the UndefinedVar page's good example relies on.
const lookup = async (ref: string) => (ref === 'python' ? { env: ['PATH=/usr/local/bin:/usr/bin', 'PYTHON_VERSION=3.13.0'] } : undefined);

describe('every rule page of BuildKit', () => {
  it('has a rule of ours for each page, and the same URL', () => {
    expect(pages.length).toBe(21);
    for (const file of pages) {
      const name = ruleOf(readFileSync(path.join(DIR, file), 'utf8'));
      const rule = (RULES as Record<string, { url?: string }>)[name];
      expect(rule, name).toBeDefined();
      expect(rule.url).toBe(`https://docs.docker.com/go/dockerfile/rule/${file.replace(/\.md$/, '')}/`);
    }
  });

  for (const file of pages) {
    const page = readFileSync(path.join(DIR, file), 'utf8');
    const name = ruleOf(page);
    const cases = examples(page);
    it(`${name}: ${cases.filter((c) => !c.good).length} bad examples flagged, ${cases.filter((c) => c.good).length} good ones pass`, async () => {
      expect(cases.some((c) => !c.good)).toBe(true);
      for (const example of cases) {
        const parsed = parseDockerfile(runnable(example.dockerfile), 'Dockerfile');
        const result = await lintDockerfile(parsed, {
          buildArgs: new Map([['BUILDKIT_DOCKERFILE_CHECK', 'experimental=all']]),
          ignore: name === 'CopyIgnoredFile' ? compileIgnore(['*/tmp/*']) : undefined,
          lookup,
        });
        const hits = result.warnings.filter((w) => w.rule === name);
        if (example.good || NOT_FLAGGED_BY_BUILDKIT.has(example.dockerfile)) expect(hits, example.dockerfile).toEqual([]);
        else expect(hits.length, example.dockerfile).toBeGreaterThan(0);
      }
    });
  }
});
