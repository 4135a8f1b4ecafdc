import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = path.resolve(import.meta.dirname, '../..');

describe('berth --version', () => {
  it("prints package.json's version and exits 0, from whatever bin/berth runs", () => {
    const { version } = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
    expect(execFileSync(path.join(REPO, 'bin/berth'), ['--version'], { encoding: 'utf8' })).toBe(`${version}\n`);
  });
});
