/**
 * berth's own differential conformance cases (test/conformance/cases, same form as the shared
 * ones): each is built by Docker's BuildKit and by berth through ../shared/conformance/differ.py
 * and the images compared. Needs root and Debian's docker.io (the script starts dockerd if needed).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = path.resolve(import.meta.dirname, '../..');
const DIFFER = path.resolve(REPO, '../shared/conformance/differ.py');
const CASES = path.join(import.meta.dirname, 'cases');
const names = readdirSync(CASES).filter((n) => statSync(path.join(CASES, n)).isDirectory()).sort();
const haveDocker = (existsSync('/usr/bin/docker') || existsSync('/usr/sbin/dockerd')) && existsSync(DIFFER);

let results: Record<string, string> = {};
let log = '';
const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-differ-'));

describe.skipIf(!haveDocker)('differential conformance against Docker (test/conformance/cases)', () => {
  beforeAll(async () => {
    const json = path.join(dir, 'results.json');
    log = await new Promise<string>((resolve) => {
      execFile('python3', [DIFFER, '--cases', CASES, '--json', json], { cwd: REPO, maxBuffer: 64 << 20 }, (_error, stdout, stderr) => {
        resolve(`${String(stdout)}${String(stderr)}`);
      });
    });
    if (existsSync(json)) results = JSON.parse(readFileSync(json, 'utf8')) as Record<string, string>;
  }, 45 * 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(names)('%s', (name) => {
    const section = log.split('\n').reduce<{ on: boolean; lines: string[] }>((acc, line) => {
      if (/^(PASS|FAIL|ERROR) /.test(line)) acc.on = line.endsWith(` ${name}`);
      else if (acc.on) acc.lines.push(line);
      return acc;
    }, { on: false, lines: [] }).lines.join('\n');
    expect(results[name], `${name}:\n${section || log.slice(-2000)}`).toBe('PASS');
  });
});
