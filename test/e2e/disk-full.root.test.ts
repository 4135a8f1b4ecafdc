/**
 * A full disk is a user's problem to fix: the error says which step (file:line:col, code frame)
 * and which path, not a bare ENOSPC. The store lives on a 4 MiB tmpfs; the step copies 8 MiB.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BERTH } from './harness.ts';

let dir: string;
let store: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-full-'));
  store = path.join(dir, 'store');
  mkdirSync(store);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', store]);
});
afterAll(() => {
  execFileSync('umount', [store]);
  rmSync(dir, { recursive: true, force: true });
});

describe('a full disk', () => {
  it('is reported at the step, with the path that could not be written', () => {
    const ctx = path.join(dir, 'ctx');
    mkdirSync(ctx);
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY big /big\n');
    writeFileSync(path.join(ctx, 'big'), Buffer.alloc(8 << 20, 7));
    let stderr = '';
    let code = 0;
    try {
      execFileSync(BERTH, ['build', '--progress', 'plain', ctx], { env: { ...process.env, BERTH_ROOT: store }, stdio: 'pipe' });
    } catch (error) {
      code = (error as { status: number }).status;
      stderr = String((error as { stderr: Buffer }).stderr);
    }
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/error: \S*Dockerfile:2:1: .*\/store\/\S+: no space left on device \(ENOSPC\)/);
    expect(stderr).toContain('> 2 | COPY big /big');
  });
});
