/**
 * A hostile Dockerfile through the real CLI: the error must come out as `file:line:col message`
 * with exit code 1, as every user mistake does, not as a bare `Maximum call stack size exceeded`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const BERTH = path.resolve(import.meta.dirname, '../../bin/berth');
const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function berth(args: string[], dockerfile: string): { code: number | null; stdout: string; stderr: string } {
  const file = path.join(dir, 'Dockerfile');
  writeFileSync(file, dockerfile);
  const env = { ...process.env, BERTH_ROOT: path.join(dir, 'store'), NO_COLOR: '1' };
  const result = spawnSync(BERTH, [...args, '-f', file], { cwd: dir, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const deep = (n: number): string => '${a:-'.repeat(n) + 'x' + '}'.repeat(n);

describe('hostile Dockerfiles on the command line', () => {
  it.each([['check'], ['plan']])('berth %s: deep ${...} nesting is a located error, exit 1', (command) => {
    const result = berth([command], `FROM scratch\nRUN true\nENV b=${deep(5000)}\n`);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: .*Dockerfile:3:507: failed to process "\$\{a:-.*\.\.\.": variable expansions nested more than 100 levels deep\n/);
    expect(result.stderr).not.toContain('Maximum call stack');
  });

  it('berth check: deeply nested JSON is a located error, exit 1', () => {
    const result = berth(['check'], `FROM scratch\nCMD ${'['.repeat(5000)}${']'.repeat(5000)}\n`);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/Dockerfile:2:1: .*arrays must be comprised of strings only/);
  });

  it('berth check: ONBUILD chained thousands of times is a located error, exit 1', () => {
    const result = berth(['check'], `FROM scratch\n${'ONBUILD '.repeat(5000)}RUN true\n`);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/Dockerfile:2:1: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed/);
  });

  it('berth plan: a chain of 5,000 stages plans', () => {
    const lines = ['FROM scratch AS s0'];
    for (let i = 1; i < 5000; i++) lines.push(`FROM s${i - 1} AS s${i}`);
    const result = berth(['plan'], `${lines.join('\n')}\n`);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('s4999/0 FROM stage 4998 <- s4998/0');
  });
});
