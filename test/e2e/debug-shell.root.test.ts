/**
 * `berth build --debug-on-error`: a shell in the failing RUN's container, with its mounts,
 * environment, user and working directory, over the file system as the command left it. Nothing
 * of it is committed and nothing is left behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, mountsMentioning, sandboxProcesses, type Sandbox } from './harness.ts';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

let sb: Sandbox;
beforeAll(async () => { sb = await makeSandbox(); }, 120_000);
afterAll(() => sb?.cleanup());

const FAILING = [
  'FROM busybox:local', 'ENV FOO=bar', 'USER 1234', 'WORKDIR /tmp',
  'RUN --mount=type=bind,from=busybox:local,target=/m echo left-behind > state && exit 3', '',
].join('\n');

function expectNothingLeft(): void {
  expect(mountsMentioning(sb.root)).toEqual([]);
  expect(sandboxProcesses(sb.root)).toEqual([]);
  const tmp = path.join(sb.root, 'tmp');
  expect(existsSync(tmp) ? readdirSync(tmp) : []).toEqual([]);
}

describe('--debug-on-error', () => {
  it('runs the given command in the failing step\'s container, then fails the build', async () => {
    const ctx = sb.context({ Dockerfile: FAILING });
    const built = await sb.berth(['build', '--progress', 'plain', '-t', 'dbg/cmd',
      '--debug-on-error=cat state; pwd; echo $FOO; id -u; test -x /m/bin/busybox && echo mounted; echo scribble > scribble', ctx]);
    expect(built.code).not.toBe(0);
    expect(built.stdout).toBe('left-behind\n/tmp\nbar\n1234\nmounted\n');
    expect(built.stderr).toContain('exit code: 3');
    expect((await sb.berth(['images'])).stdout).not.toContain('dbg/cmd');
    expectNothingLeft();
  });

  it('opens an interactive shell on the terminal (here: standard input) when no command is given', async () => {
    const ctx = sb.context({ Dockerfile: FAILING });
    const built = await sb.berth(['build', '--progress', 'plain', '--debug-on-error', ctx], { input: 'cat state\necho "in $(pwd)"\nexit\n' });
    expect(built.code).not.toBe(0);
    expect(built.stdout).toBe('left-behind\nin /tmp\n');
    expectNothingLeft();
  });

  it('commits nothing of the debug session: the fixed step builds without its scribbles', async () => {
    const ctx = sb.context({ Dockerfile: FAILING.replace('&& exit 3', '&& ls') });
    const built = await sb.berth(['build', '-q', '-t', 'dbg/after', ctx]);
    expect(built.code, built.stderr).toBe(0);
    const ran = await sb.berth(['run', '--rm', 'dbg/after', 'ls', '/tmp']);
    expect(ran.stdout).toBe('state\n');
  });
});
