import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTunUsable, makeUser, removeUser, type TestUser } from '../e2e/rootless-harness.ts';
import { cleanCopy, npmEnv, ok, pack, run, scratchContext } from './harness.ts';

/**
 * An ordinary user installs the npm package into a prefix of their own (npm's global install,
 * `--prefix ~/berth`), with an npm cache of their own, and builds, runs and saves with it:
 * rootless, through the user namespace the package's helper sets up from /etc/subuid.
 */
let dir: string;
let user: TestUser | undefined;
let tarball: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-install-rootless-'));
  chmodSync(dir, 0o755);
  tarball = pack(cleanCopy(path.join(dir, 'copy')), path.join(dir, 'packed'));
  chmodSync(path.dirname(tarball), 0o755);
  chmodSync(tarball, 0o644);
  ensureTunUsable();
  user = makeUser('berth-install', 700000, dir);
}, 60_000);

afterAll(() => {
  removeUser(user);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function asUser(command: string, args: string[]): ReturnType<typeof run> {
  const env = { ...npmEnv(), HOME: user!.home, USER: user!.name, PATH: `${user!.home}/berth/bin:/usr/local/bin:/usr/bin:/bin`, npm_config_update_notifier: 'false' };
  return run('runuser', ['-u', user!.name, '--', 'env', '-i', ...Object.entries(env).map(([key, value]) => `${key}=${value}`), command, ...args], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, cwd: user!.home });
}

describe('the npm package, installed by an ordinary user', () => {
  it('installs into their prefix and builds, runs and saves rootless', () => {
    ok(asUser('npm', ['install', '-g', '--no-audit', '--no-fund', '--prefix', `${user!.home}/berth`, tarball]), 'npm install -g as the user');
    const version = ok(asUser('berth', ['version']), 'berth version');
    expect(version).toContain(`runs from: start-up snapshot ${user!.home}/.cache/berth/snapshot${user!.home}/berth/lib/node_modules/berth/`);

    const context = scratchContext(path.join(user!.home, 'ctx'));
    execFileSync('chown', ['-R', `${user!.uid}:${user!.gid}`, context]);
    ok(asUser('berth', ['build', '-t', 'scratchy', context]), 'berth build as the user');
    expect(ok(asUser('berth', ['run', '--rm', 'scratchy']), 'berth run as the user')).toBe('built from scratch\n');
    ok(asUser('berth', ['save', 'scratchy', '-o', `${user!.home}/scratchy.tar`]), 'berth save as the user');
    expect(execFileSync('tar', ['-tf', `${user!.home}/scratchy.tar`], { encoding: 'utf8' })).toContain('manifest.json');
  }, 60_000);
});
