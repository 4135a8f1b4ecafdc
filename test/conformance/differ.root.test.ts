/**
 * berth's own differential conformance cases (test/conformance/cases, same form as the shared
 * ones): each is built by Docker's BuildKit and by berth through ../shared/conformance/differ.py
 * and the images compared; the shared cases run the same way. Needs root and Debian's docker.io
 * (scripts/test.sh installs it; differ.py starts dockerd when none answers).
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeUser, removeUser, type TestUser } from '../e2e/rootless-harness.ts';

const REPO = path.resolve(import.meta.dirname, '../..');
const DIFFER = path.resolve(REPO, '../shared/conformance/differ.py');
const SHARED = path.resolve(REPO, '../shared/conformance/cases');
// The shared cases also run with berth as an ordinary user (rootless, through berth-as-user.sh).
// berth's own cases are not: two of them make root-only (0700) folders in the context, which no
// rootless builder can read.
const SUITES = [
  { title: 'berth\'s own cases (test/conformance/cases)', cases: path.join(import.meta.dirname, 'cases'), rootless: false },
  { title: 'the shared cases (../shared/conformance/cases)', cases: SHARED, rootless: false },
  { title: 'the shared cases, berth rootless', cases: SHARED, rootless: true },
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
    let user: TestUser | undefined;
    beforeAll(async () => {
      const json = path.join(dir, 'results.json');
      const args = [DIFFER, '--cases', suite.cases, '--json', json];
      let env = process.env;
      if (suite.rootless) {
        chmodSync(dir, 0o755);
        user = makeUser('berth-differ', 500000, dir);
        args.push('--berth', path.join(import.meta.dirname, 'berth-as-user.sh'));
        env = { ...process.env, BERTH_TEST_USER: user.name };
      }
      log = await new Promise<string>((resolve) => {
        execFile('python3', args, { cwd: REPO, env, maxBuffer: 64 << 20 }, (_error, stdout, stderr) => {
          resolve(`${String(stdout)}${String(stderr)}`);
        });
      });
      if (existsSync(json)) results = JSON.parse(readFileSync(json, 'utf8')) as Record<string, string>;
    }, 45 * 60_000);
    afterAll(() => {
      removeUser(user);
      rmSync(dir, { recursive: true, force: true });
    });

    it.each(caseNames(suite.cases))('%s', (name) => {
      expect(results[name], `${name}:\n${sectionOf(log, name) || log.slice(-2000)}`).toBe('PASS');
    });
  });
}
