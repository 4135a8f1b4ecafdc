import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { versionLine } from '../../src/cli/version.ts';

const REPO = path.resolve(import.meta.dirname, '../..');
const { version } = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };

describe('berth --version', () => {
  it("prints package.json's version and the build and exits 0, from whatever bin/berth runs", () => {
    expect(execFileSync(path.join(REPO, 'bin/berth'), ['--version'], { encoding: 'utf8' })).toMatch(new RegExp(`^${version.replaceAll('.', '\\.')} \\((sources|(commit [0-9a-f]{12}(-dirty)?, )?build [0-9a-f]{12})\\)\n$`));
  });

  it('names the commit and the build a bundle baked in, or says it runs from the sources', () => {
    expect(versionLine({ id: '02a2370506a17861531881011b3288f9', commit: '7c9260e1a2b3' })).toBe(`${version} (commit 7c9260e1a2b3, build 02a2370506a1)`);
    expect(versionLine({ id: '02a2370506a17861531881011b3288f9' })).toBe(`${version} (build 02a2370506a1)`);
    expect(versionLine(undefined)).toBe(`${version} (sources)`);
  });
});

describe('berth version', () => {
  it('says what it runs from and on which node', () => {
    const out = execFileSync(path.join(REPO, 'bin/berth'), ['version'], { encoding: 'utf8' });
    expect(out).toMatch(new RegExp(`^berth ${version.replaceAll('.', '\\.')}\ncommit: .+\nbuild: .+\nnode: v\\d+\\.\\d+\\.\\d+\nruns from: (start-up snapshot|bundle|sources) /`));
  });
});
