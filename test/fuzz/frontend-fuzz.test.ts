import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BuildError } from '../../src/source/index.ts';
import { parseDockerfile } from '../../src/syntax/index.ts';
import { planBuild } from '../../src/plan/index.ts';

const CORPUS = path.resolve(import.meta.dirname, '../../../shared/corpus');

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? listFiles(full) : [full];
  });
}

/** mulberry32: small, seeded, reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOKENS = ['\\', '\\\n', '\n', '"', "'", '[', ']', '{', '}', '$', '${', ':-', '<<EOF\n', '<<-"X"\n', 'EOF\n', '\t', ' ', '--', '--from=', '=', ',', '#', '# escape=`\n', '\r\n', '\u00ff', 'FROM ', 'ONBUILD ', 'AS ', 'ARG ', '`'];

function mutate(text: string, random: () => number): string {
  let out = text;
  const edits = 1 + Math.floor(random() * 4);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(random() * (out.length + 1));
    const choice = random();
    if (choice < 0.3) out = out.slice(0, at) + out.slice(at + 1 + Math.floor(random() * 8));
    else if (choice < 0.7) out = out.slice(0, at) + TOKENS[Math.floor(random() * TOKENS.length)] + out.slice(at);
    else if (choice < 0.85) {
      const lines = out.split('\n');
      const a = Math.floor(random() * lines.length);
      const b = Math.floor(random() * lines.length);
      [lines[a], lines[b]] = [lines[b], lines[a]];
      out = lines.join('\n');
    } else out = out.slice(0, at) + out.slice(Math.max(0, at - 20), at) + out.slice(at);
  }
  return out;
}

describe('front end fuzz', () => {
  it('throws nothing but BuildError on 10,000 mutated corpus Dockerfiles', async () => {
    const files = [...listFiles(path.join(CORPUS, 'realworld')), ...listFiles(path.join(CORPUS, 'buildkit-parser')).filter((f) => f.endsWith('Dockerfile'))];
    const texts = files.map((f) => readFileSync(f, 'utf8'));
    const random = rng(20261123);
    let rejected = 0;
    for (let i = 0; i < 10_000; i++) {
      const input = mutate(texts[i % texts.length], random);
      try {
        await planBuild(parseDockerfile(input, 'Dockerfile'));
      } catch (error) {
        if (!(error instanceof BuildError)) {
          throw new Error(`case ${i} threw ${(error as Error)?.name}: ${(error as Error)?.message}\n--- input ---\n${input.slice(0, 2000)}`);
        }
        expect(error.range === undefined || error.range.start.line >= 1).toBe(true);
        rejected++;
      }
    }
    // Mutations must actually reach the error paths, or the test proves nothing.
    expect(rejected).toBeGreaterThan(500);
  }, 240_000);
});
