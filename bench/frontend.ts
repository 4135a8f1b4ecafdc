import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseDockerfile } from '../src/syntax/index.ts';
import { planBuild } from '../src/plan/index.ts';

const CORPUS = path.resolve(import.meta.dirname, '../../shared/corpus');

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? listFiles(full) : [full];
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * A Dockerfile of `count` instructions mixing every common kind, multi-stage. ENV and ARG lines
 * reuse a set of 25 names each (as real files redefine PATH, versions and flags) rather than
 * minting a new variable each time: every RUN carries its whole environment in the plan, so
 * thousands of distinct names make the plan itself quadratic in size, whatever the planner does.
 */
export function generateDockerfile(count: number): string {
  const lines = ['ARG BASE=scratch', 'FROM ${BASE} AS s0'];
  let stage = 0;
  for (let i = 2; i < count; i++) {
    switch (i % 10) {
      case 0: lines.push(`RUN echo step ${i} && \\\n    mkdir -p /work/${i}`); break;
      case 1: lines.push(`ENV VAR_${i % 25}=value_${i} OTHER_${i % 25}="quoted ${i}"`); break;
      case 2: lines.push(`COPY --chown=1000:1000 src/${i}.txt /app/${i}/`); break;
      case 3: lines.push(`WORKDIR /app/$VAR_${(i - 2) % 25}`); break;
      case 4: lines.push(`LABEL org.example.step${i}="${i}"`); break;
      case 5: lines.push(`RUN ["/bin/sh", "-c", "echo ${i}"]`); break;
      case 6: lines.push(`ARG A_${i % 25}=${i}`); break;
      case 7: lines.push(`EXPOSE ${1000 + (i % 5000)}/tcp`); break;
      case 8: lines.push(`USER ${i % 2 ? 'root' : '1000'}`); break;
      case 9:
        if (i % 1000 === 999) {
          stage++;
          lines.push(`FROM s${stage - 1} AS s${stage}`);
        } else lines.push(`CMD ["run", "${i}"]`);
        break;
    }
  }
  return `${lines.join('\n')}\n`;
}

export async function benchFrontend(): Promise<Record<string, number>> {
  const files = [...listFiles(path.join(CORPUS, 'realworld')), ...listFiles(path.join(CORPUS, 'buildkit-parser')).filter((f) => f.endsWith('Dockerfile'))];
  const texts = files.map((f) => readFileSync(f, 'utf8'));
  const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
  const rounds: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    for (const text of texts) parseDockerfile(text);
    rounds.push(performance.now() - t0);
  }
  const corpusMs = median(rounds);
  const big = generateDockerfile(10_000);
  const planRounds: number[] = [];
  // Warm-up rounds let the JIT settle, as for every figure here; then the median of nine.
  for (let r = 0; r < 3; r++) await planBuild(parseDockerfile(big));
  for (let r = 0; r < 9; r++) {
    const t0 = performance.now();
    await planBuild(parseDockerfile(big));
    planRounds.push(performance.now() - t0);
  }
  return {
    corpusFiles: files.length,
    corpusMs,
    corpusFilesPerSec: files.length / (corpusMs / 1000),
    corpusMBPerSec: bytes / 1e6 / (corpusMs / 1000),
    parsePlan10kMs: median(planRounds),
  };
}
