/** `berth check` and `berth build --check` through the real CLI: output streams, JSON, exit status. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const BERTH = path.resolve(import.meta.dirname, '../../bin/berth');
const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function berth(args: string[], dockerfile: string, files: Record<string, string> = {}) {
  writeFileSync(path.join(dir, 'Dockerfile'), dockerfile);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  const env = { ...process.env, BERTH_ROOT: path.join(dir, 'store'), NO_COLOR: '1' };
  const result = spawnSync(BERTH, args, { cwd: dir, env, encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('berth check', () => {
  it('a clean file: "no warnings found", exit 0', () => {
    const r = berth(['check'], 'FROM scratch\nCMD ["x"]\n');
    expect(r).toEqual({ code: 0, stdout: 'Check complete, no warnings found.\n', stderr: '' });
  });

  it('warnings: the docker build --check text on stdout, exit 1', () => {
    const r = berth(['check'], 'FROM scratch AS Build\nCMD x\n');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe([
      'Check complete, 2 warnings have been found!', '',
      'WARNING: StageNameCasing - https://docs.docker.com/go/dockerfile/rule/stage-name-casing/',
      "Stage name 'Build' should be lowercase",
      'Dockerfile:1', '--------------------', '   1 | >>> FROM scratch AS Build', '   2 |     CMD x', '   3 |     ', '--------------------', '',
      'WARNING: JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/json-args-recommended/',
      'JSON arguments recommended for CMD to prevent unintended behavior related to OS signals',
      'Dockerfile:2', '--------------------', '   1 |     FROM scratch AS Build', '   2 | >>> CMD x', '   3 |     ', '--------------------', '',
    ].join('\n'));
  });

  it('--format json, the build arg over the directive, error=true', () => {
    const json = JSON.parse(berth(['check', '--format', 'json'], 'FROM scratch AS Build\n').stdout);
    expect(json.warnings.map((w: { ruleName: string }) => w.ruleName)).toEqual(['StageNameCasing']);
    const skipped = berth(['check', '--build-arg', 'BUILDKIT_DOCKERFILE_CHECK=skip=StageNameCasing'], '# check=error=true\nFROM scratch AS Build\n');
    expect(skipped).toEqual({ code: 0, stdout: 'Check complete, no warnings found.\n', stderr: '' });
    const failing = berth(['check'], '# check=error=true\nFROM scratch AS Build\n');
    expect(failing.code).toBe(1);
    expect(failing.stderr).toContain('error: lint violation found for rules: StageNameCasing\n');
  });

  it('with a context, .dockerignore feeds CopyIgnoredFile; build --check is the same check', () => {
    const r = berth(['build', '--check', '.'], 'FROM scratch\nCOPY notes.txt /\n', { '.dockerignore': '*.txt\n', 'notes.txt': 'x' });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('WARNING: CopyIgnoredFile - https://docs.docker.com/go/dockerfile/rule/copy-ignored-file/\nAttempting to Copy file "notes.txt" that is excluded by .dockerignore\n');
  });

  it('planning errors still come out on stderr as located errors', () => {
    const r = berth(['check'], 'FROM scratch\nSTOPSIGNAL\n');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: .*Dockerfile:2/);
  });
});
