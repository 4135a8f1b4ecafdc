/**
 * berth's own differential conformance cases (test/conformance/cases, same form as the shared
 * ones): each is built by Docker's BuildKit and by berth through ../shared/conformance/differ.py
 * and the images compared; the shared cases run the same way. Needs root and Debian's docker.io
 * (scripts/test.sh installs it; differ.py starts dockerd when none answers).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = path.resolve(import.meta.dirname, '../..');
const DIFFER = path.resolve(REPO, '../shared/conformance/differ.py');
const SUITES = [
  { title: 'berth\'s own cases (test/conformance/cases)', cases: path.join(import.meta.dirname, 'cases') },
  { title: 'the shared cases (../shared/conformance/cases)', cases: path.resolve(REPO, '../shared/conformance/cases') },
].filter((suite) => existsSync(suite.cases));
const haveDocker = (existsSync('/usr/bin/docker') || existsSync('/usr/sbin/dockerd')) && existsSync(DIFFER);

function caseNames(dir: string): string[] {
  return readdirSync(dir).filter((n) => statSync(path.join(dir, n)).isDirectory()).sort();
}

/** The lines differ.py printed under one case's PASS/FAIL line. */
function sectionOf(log: string, name: string): string {
  return log.split('\n').reduce<{ on: boolean; lines: string[] }>((acc, line) => {
    if (/^(PASS|FAIL|ERROR) /.test(line)) acc.on = line.endsWith(` ${name}`);
    else if (acc.on) acc.lines.push(line);
    return acc;
  }, { on: false, lines: [] }).lines.join('\n');
}

for (const suite of SUITES) {
  describe.skipIf(!haveDocker)(`differential conformance against Docker: ${suite.title}`, () => {
    let results: Record<string, string> = {};
    let log = '';
    const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-differ-'));
    beforeAll(async () => {
      const json = path.join(dir, 'results.json');
      log = await new Promise<string>((resolve) => {
        execFile('python3', [DIFFER, '--cases', suite.cases, '--json', json], { cwd: REPO, maxBuffer: 64 << 20 }, (_error, stdout, stderr) => {
          resolve(`${String(stdout)}${String(stderr)}`);
        });
      });
      if (existsSync(json)) results = JSON.parse(readFileSync(json, 'utf8')) as Record<string, string>;
    }, 45 * 60_000);
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it.each(caseNames(suite.cases))('%s', (name) => {
      expect(results[name], `${name}:\n${sectionOf(log, name) || log.slice(-2000)}`).toBe('PASS');
    });
  });
}
