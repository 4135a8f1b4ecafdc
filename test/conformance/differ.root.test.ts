/**
 * berth's own differential conformance cases (test/conformance/cases, same form as the shared
 * ones): each is built by Docker's BuildKit and by berth through ../shared/conformance/differ.py
 * and the images compared; the shared cases run the same way. Needs root.
 *
 * The oracle is Docker 26.1 (BuildKit 0.13, containerd image store), which
 * ../shared/conformance/oracle.sh sets up once in a chroot (debootstrap, ~5 min) and starts; its
 * socket and client go to differ.py alone, so the other Docker-using tests keep Debian 12's
 * docker.io. BERTH_DIFFER_ORACLE=20.10 asks Debian 12's Docker 20.10 instead (differ.py starts
 * its dockerd when none answers): berth follows 26 where the two differ, so cases that 20.10
 * decides otherwise fail there (the README lists them).
 */
import { execFile, execFileSync } from 'node:child_process';
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
const ORACLE_SH = path.resolve(REPO, '../shared/conformance/oracle.sh');
const ORACLE = process.env.BERTH_DIFFER_ORACLE ?? '26';
const haveDocker = ORACLE === '26'
  ? existsSync(ORACLE_SH) && existsSync(DIFFER)
  : (existsSync('/usr/bin/docker') || existsSync('/usr/sbin/dockerd')) && existsSync(DIFFER);

/** DOCKER_HOST and DIFFER_DOCKER of the Docker 26 oracle (set up and started by oracle.sh). */
function oracleEnv(): Record<string, string> {
  if (ORACLE !== '26') return {};
  const out = execFileSync('bash', [ORACLE_SH, 'env'], { encoding: 'utf8', timeout: 20 * 60_000, stdio: ['ignore', 'pipe', 'inherit'] });
  const env: Record<string, string> = {};
  for (const [, key, value] of out.matchAll(/\b(DOCKER_HOST|DIFFER_DOCKER)=(\S+)/g)) env[key] = value;
  if (!env.DOCKER_HOST || !env.DIFFER_DOCKER) throw new Error(`oracle.sh env printed no DOCKER_HOST/DIFFER_DOCKER: ${out}`);
  return env;
}

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
  describe.skipIf(!haveDocker)(`differential conformance against Docker ${ORACLE}: ${suite.title}`, () => {
    let results: Record<string, string> = {};
    let log = '';
    const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-differ-'));
    let user: TestUser | undefined;
    beforeAll(async () => {
      const json = path.join(dir, 'results.json');
      const args = [DIFFER, '--cases', suite.cases, '--json', json];
      let env: NodeJS.ProcessEnv = { ...process.env, ...oracleEnv() };
      if (suite.rootless) {
        chmodSync(dir, 0o755);
        user = makeUser('berth-differ', 500000, dir);
        args.push('--berth', path.join(import.meta.dirname, 'berth-as-user.sh'));
        env = { ...env, BERTH_TEST_USER: user.name };
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
