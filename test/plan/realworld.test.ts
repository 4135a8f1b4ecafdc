import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDockerfile } from '../../src/syntax/index.ts';
import { planBuild } from '../../src/plan/index.ts';
import { checkDockerfile } from '../../src/plan/check.ts';
import { formatBuildError } from '../../src/source/index.ts';

const CORPUS = path.resolve(import.meta.dirname, '../../../shared/corpus/realworld');

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? listFiles(full) : [full];
  });
}

describe('real-world Dockerfiles', () => {
  const files = listFiles(CORPUS);
  it('has the corpus', () => expect(files.length).toBeGreaterThan(150));
  for (const file of files) {
    it(`parses and plans ${path.relative(CORPUS, file)}`, async () => {
      const plan = await planBuild(parseDockerfile(readFileSync(file, 'utf8'), path.basename(file)));
      expect(plan.stages.length).toBeGreaterThan(0);
      expect(plan.vertices.length).toBeGreaterThan(0);
    });
    // As `berth check` does: every stage, RUN --mount flags validated (moby/buildkit's own
    // Dockerfile mounts without a target, at the working directory).
    it(`checks every stage of ${path.relative(CORPUS, file)}`, async () => {
      const errors = await checkDockerfile(parseDockerfile(readFileSync(file, 'utf8'), path.basename(file)));
      expect(errors.map((e) => formatBuildError(e))).toEqual([]);
    });
  }
});
