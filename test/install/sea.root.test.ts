import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTunUsable, makeUser, removeUser, type TestUser } from '../e2e/rootless-harness.ts';
import { ok, REPO, run, scratchContext } from './harness.ts';

/**
 * The single executable (`npm run dist`), copied alone into an empty directory and run with a
 * PATH that has no node: it builds, runs and saves an image FROM scratch, as root and as an
 * ordinary user, and its native files come out of it into the cache, checked before each use.
 */
let dir: string;
let berth: string;
let user: TestUser | undefined;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-sea-'));
  chmodSync(dir, 0o755);
  const built = path.join(dir, 'out/berth');
  ok(run(path.join(REPO, 'node_modules/node/bin/node'), [path.join(REPO, 'scripts/sea.ts'), '--out', built], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, cwd: REPO }), 'npm run dist');
  mkdirSync(path.join(dir, 'alone'));
  berth = path.join(dir, 'alone/berth');
  copyFileSync(built, berth);
  chmodSync(berth, 0o755);
  rmSync(path.join(dir, 'out'), { recursive: true });
}, 60_000);

afterAll(() => {
  removeUser(user);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the single executable', () => {
  it('builds, runs and saves with nothing else on PATH, and writes its native files again when they changed', () => {
    const env = { PATH: path.join(dir, 'alone'), HOME: path.join(dir, 'home'), BERTH_ROOT: path.join(dir, 'store') };
    expect(ok(run('berth', ['version'], { env }), 'berth version')).toContain(`runs from: single executable ${berth}`);
    const context = scratchContext(path.join(dir, 'ctx'));
    ok(run('berth', ['build', '-t', 'scratchy', context], { env }), 'berth build');
    expect(ok(run('berth', ['run', '--rm', 'scratchy'], { env }), 'berth run')).toBe('built from scratch\n');
    ok(run('berth', ['save', 'scratchy', '-o', path.join(dir, 'scratchy.tar')], { env }), 'berth save');
    expect(execFileSync('tar', ['-tf', path.join(dir, 'scratchy.tar')], { encoding: 'utf8' })).toContain('manifest.json');

    // Named by their digests; a changed helper is not run but written out again.
    const native = path.join(env.HOME, '.cache/berth/native');
    const digests = readdirSync(native);
    expect(digests.map((digest) => readdirSync(path.join(native, digest))[0]).sort()).toEqual(['berth-sandbox', 'berth_sys.node']);
    const helperDir = digests.find((digest) => readdirSync(path.join(native, digest)).includes('berth-sandbox'))!;
    const helper = path.join(native, helperDir, 'berth-sandbox');
    expect(execFileSync('sha256sum', [helper], { encoding: 'utf8' }).split(' ')[0]).toBe(helperDir);
    writeFileSync(helper, '#!/bin/sh\necho tampered\nexit 1\n');
    expect(ok(run('berth', ['run', '--rm', 'scratchy'], { env }), 'berth run after tampering')).toBe('built from scratch\n');
    expect(readFileSync(helper).subarray(1, 4).toString()).toBe('ELF');

    // A cache others may write in (they could swap a file after the check): not used.
    const shared = path.join(dir, 'shared-cache');
    mkdirSync(path.join(shared, 'berth'), { recursive: true });
    chmodSync(path.join(shared, 'berth'), 0o777);
    const refused = run('berth', ['run', '--rm', 'scratchy'], { env: { ...env, XDG_CACHE_HOME: shared } });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain(`${shared}/berth is not a directory of this user's that only it can write`);
  }, 60_000);

  it('runs for an ordinary user, rootless, from a copy in their home', () => {
    ensureTunUsable();
    user = makeUser('berth-sea', 800000, dir);
    const bin = path.join(user.home, 'bin');
    mkdirSync(bin);
    copyFileSync(berth, path.join(bin, 'berth'));
    // Rootless berth maps the user's subordinate ids with shadow's setuid helpers; nothing else.
    const tools = path.join(dir, 'tools');
    mkdirSync(tools, { recursive: true });
    for (const tool of ['newuidmap', 'newgidmap']) symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), path.join(tools, tool));
    const context = scratchContext(path.join(user.home, 'ctx'));
    execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, bin, context]);
    const asUser = (args: string[]): string => ok(run('runuser', ['-u', user!.name, '--', 'env', '-i', `HOME=${user!.home}`, `PATH=${bin}:${tools}`, 'berth', ...args], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, cwd: user!.home }), `berth ${args[0]} as the user`);
    asUser(['build', '-t', 'scratchy', context]);
    expect(asUser(['run', '--rm', 'scratchy'])).toBe('built from scratch\n');
  }, 60_000);
});
