/**
 * ADD <git url>: from a repository on disk (file://) and from a git daemon on loopback, by branch,
 * tag, commit and subdir, with --keep-git-dir and --checksum; cached by the commit the ref names.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox } from './harness.ts';

let sb: Sandbox;
let repos: string;
let work: string;
let daemon: ChildProcess;
let port: number;

const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, encoding: 'utf8' }).trim();

function commitFiles(files: Record<string, string>, message: string, date: string): string {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(work, name)), { recursive: true });
    writeFileSync(path.join(work, name), text);
  }
  git(work, 'add', '-A');
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', message], { cwd: work, env: { ...process.env, GIT_COMMITTER_DATE: date, GIT_AUTHOR_DATE: date } });
  git(work, 'push', '-q', 'origin', 'HEAD:main', '--tags');
  return git(work, 'rev-parse', 'HEAD');
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: p } = server.address() as net.AddressInfo;
      server.close(() => resolve(p));
    });
  });
}

let first: string;
beforeAll(async () => {
  sb = await makeSandbox();
  repos = path.join(sb.dir, 'repos');
  work = path.join(sb.dir, 'work');
  mkdirSync(repos);
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', path.join(repos, 'app.git')]);
  execFileSync('git', ['clone', '-q', path.join(repos, 'app.git'), work]);
  first = commitFiles({ 'README': 'one\n', 'sub/a.txt': 'a one\n' }, 'one', '2024-01-02T03:04:05Z');
  git(work, 'tag', '-a', 'v1', '-m', 'v1');
  git(work, 'push', '-q', 'origin', 'v1');
  port = await freePort();
  daemon = spawn('git', ['daemon', '--reuseaddr', '--export-all', `--base-path=${repos}`, `--port=${port}`, '--listen=127.0.0.1', repos], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync('git', ['ls-remote', `git://127.0.0.1:${port}/app.git`], { stdio: 'ignore' });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}, 120_000);
afterAll(() => {
  daemon?.kill();
  sb?.cleanup();
});

const cat = async (image: string, file: string) => (await sb.berth(['run', '--rm', image, 'cat', file])).stdout;

describe('ADD <git url>', () => {
  it('copies a branch\'s subdir, or all with .git kept, from a file:// repository in the context', async () => {
    const ctx = sb.context({ Dockerfile: 'FROM busybox:local\n' });
    execFileSync('git', ['clone', '-q', '--bare', path.join(repos, 'app.git'), path.join(ctx, 'vendor/app.git')]);
    const url = `file://${ctx}/vendor/app.git`;
    writeFileSync(path.join(ctx, 'Dockerfile'), `FROM busybox:local\nADD ${url}#main:sub /sub\nADD --keep-git-dir=true ${url}#main /full\n`);
    const built = await sb.berth(['build', '-q', '-t', 'git/file', ctx]);
    expect(built.code, built.stderr).toBe(0);
    expect(await cat('git/file', '/sub/a.txt')).toBe('a one\n');
    expect((await sb.berth(['run', '--rm', 'git/file', 'ls', '-a', '/sub'])).stdout).toBe('.\n..\na.txt\n');
    expect(await cat('git/file', '/full/README')).toBe('one\n');
    expect(await cat('git/file', '/full/.git/HEAD')).toMatch(/^[0-9a-f]{40}\n$|^ref: /);
  });

  it('takes a tag from a git daemon, checks --checksum, and is cached by the commit its ref names', async () => {
    const url = `git://127.0.0.1:${port}/app.git`;
    const dockerfile = (ref: string, extra = '') => `FROM busybox:local\nADD ${extra}${url}${ref} /app\n`;
    const tagged = await sb.berth(['build', '-q', '-t', 'git/tag', sb.context({ Dockerfile: dockerfile('?tag=v1', `--checksum=${first} `) })]);
    expect(tagged.code, tagged.stderr).toBe(0);
    expect(await cat('git/tag', '/app/README')).toBe('one\n');
    const wrong = await sb.berth(['build', '-q', sb.context({ Dockerfile: dockerfile('#v1', '--checksum=0123456789abcdef ') })]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain(`expected checksum to match 0123456789abcdef, got ${first}`);

    const main = sb.context({ Dockerfile: dockerfile('#main') });
    expect((await sb.berth(['build', '-q', '-t', 'git/main', main])).code).toBe(0);
    const again = await sb.berth(['build', '--progress', 'plain', '-t', 'git/main', main]);
    expect(again.stderr).toMatch(/ADD git:\/\/\S+ \/app\n#\d+ CACHED/);
    commitFiles({ README: 'two\n' }, 'two', '2024-02-03T04:05:06Z');
    expect((await sb.berth(['build', '-q', '-t', 'git/main', main])).code).toBe(0);
    expect(await cat('git/main', '/app/README')).toBe('two\n');
    // The tag still names the first commit.
    expect((await sb.berth(['build', '-q', '-t', 'git/tag2', sb.context({ Dockerfile: dockerfile('#v1') })])).code).toBe(0);
    expect(await cat('git/tag2', '/app/README')).toBe('one\n');
  });

  it('gives files the commit\'s time with mtime=commit (as BuildKit\'s git.mtime)', async () => {
    const ctx = sb.context({ Dockerfile: `FROM busybox:local\nADD git://127.0.0.1:${port}/app.git?ref=${first}&mtime=commit /c\n` });
    expect((await sb.berth(['build', '-q', '-t', 'git/mtime', ctx])).code).toBe(0);
    expect((await sb.berth(['run', '--rm', 'git/mtime', 'stat', '-c', '%Y', '/c/README'])).stdout.trim()).toBe(String(Date.parse('2024-01-02T03:04:05Z') / 1000));
  });

  it('builds with a repository\'s subdir as the context, without its .git', async () => {
    commitFiles({ 'sub/Dockerfile': 'FROM busybox:local\nCOPY . /ctx\n' }, 'dockerfile', '2024-03-04T05:06:07Z');
    const built = await sb.berth(['build', '-q', '-t', 'git/context', `git://127.0.0.1:${port}/app.git#main:sub`]);
    expect(built.code, built.stderr).toBe(0);
    expect((await sb.berth(['run', '--rm', 'git/context', 'ls', '-A', '/ctx'])).stdout).toBe('Dockerfile\na.txt\n');
    const root = await sb.berth(['build', '-q', '-t', 'git/root', '-f', path.join(work, 'sub/Dockerfile'), `git://127.0.0.1:${port}/app.git`]);
    expect(root.code, root.stderr).toBe(0);
    expect((await sb.berth(['run', '--rm', 'git/root', 'ls', '-A', '/ctx'])).stdout).toBe('README\nsub\n');
    const missing = await sb.berth(['build', '-q', `git://127.0.0.1:${port}/app.git#nope`]);
    expect(missing.stderr).toContain('unable to prepare context: git ref nope not found');
  });

  it('fetches submodules (from the same server) unless submodules=false', async () => {
    const lib = path.join(sb.dir, 'lib');
    execFileSync('git', ['init', '-q', '-b', 'main', lib]);
    writeFileSync(path.join(lib, 'lib.txt'), 'from the submodule\n');
    git(lib, 'add', '.');
    git(lib, 'commit', '-q', '-m', 'lib');
    execFileSync('git', ['clone', '-q', '--bare', lib, path.join(repos, 'lib.git')]);
    git(work, 'submodule', 'add', '-q', `git://127.0.0.1:${port}/lib.git`, 'lib');
    git(work, 'commit', '-q', '-m', 'submodule');
    git(work, 'push', '-q', 'origin', 'HEAD:main');
    const url = `git://127.0.0.1:${port}/app.git`;
    const ctx = sb.context({ Dockerfile: `FROM busybox:local\nADD ${url}#main /with\nADD ${url}?branch=main&submodules=false /without\n` });
    const built = await sb.berth(['build', '-q', '-t', 'git/sub', ctx]);
    expect(built.code, built.stderr).toBe(0);
    expect(await cat('git/sub', '/with/lib/lib.txt')).toBe('from the submodule\n');
    expect((await sb.berth(['run', '--rm', 'git/sub', 'ls', '-A', '/without/lib'])).stdout).toBe('');
  });

  // Someone else's Dockerfile must not read the builder's own repositories (or any path) through
  // file://, nor through a submodule's URL: file:// reaches only repositories inside the context.
  it('refuses a file:// repository outside the build context', async () => {
    const ctx = sb.context({ Dockerfile: `FROM busybox:local\nADD file://${repos}/app.git#main /stolen\n` });
    const built = await sb.berth(['build', '-q', '-t', 'git/stolen', ctx]);
    expect(built.code).not.toBe(0);
    expect(built.stderr).toContain('file:// git sources must be inside the build context');
  });

  it('refuses transports that run commands or read files (ext::, fd::) even through submodules', async () => {
    const evil = path.join(sb.dir, 'evil');
    execFileSync('git', ['init', '-q', '-b', 'main', evil]);
    writeFileSync(path.join(evil, '.gitmodules'), `[submodule "s"]\n\tpath = s\n\turl = ext::sh -c touch% ${sb.dir}/pwned\n`);
    git(evil, 'add', '.gitmodules');
    git(evil, 'update-index', '--add', '--cacheinfo', `160000,${first},s`);
    git(evil, 'commit', '-q', '-m', 'evil');
    execFileSync('git', ['clone', '-q', '--bare', evil, path.join(repos, 'evil.git')]);
    const ctx = sb.context({ Dockerfile: `FROM busybox:local\nADD git://127.0.0.1:${port}/evil.git#main /e\n` });
    const built = await sb.berth(['build', '-q', ctx]);
    expect(built.code).not.toBe(0);
    expect(existsSync(path.join(sb.dir, 'pwned'))).toBe(false);
  });

  it('refuses COPY of a git URL and a ref that does not exist', async () => {
    const copy = await sb.berth(['build', '-q', sb.context({ Dockerfile: `FROM busybox:local\nCOPY git://127.0.0.1:${port}/app.git /x\n` })]);
    expect(copy.stderr).toContain("source can't be a git ref for COPY");
    const missing = await sb.berth(['build', '-q', sb.context({ Dockerfile: `FROM busybox:local\nADD git://127.0.0.1:${port}/app.git#nope /x\n` })]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('git ref nope not found');
  });
});
