/**
 * Users for the rootless tests, made by the test (it runs as root in CI): one with subordinate
 * ids in /etc/subuid and /etc/subgid, one without. Each test user runs bin/berth through
 * runuser with a home and a store of its own under a temp dir the user owns.
 *
 * /dev/net/tun must be usable by ordinary users for user-mode networking (slirp4netns opens it
 * in the container's namespace); Debian's udev makes it 0666, a machine without udev (this VM
 * kind) leaves the kernel's 0600, so the harness sets the udev default.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BERTH, REPO, type CliResult } from './harness.ts';

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  /** Runs bin/berth as this user, in `cwd` (default: the user's home). */
  berth(args: string[], options?: { cwd?: string; env?: Record<string, string> }): Promise<CliResult>;
  /** A directory the user owns, with these files. */
  context(files: Record<string, string | Buffer>): string;
}

function idsOf(name: string): { uid: number; gid: number } {
  const id = (flag: string): number => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** `name`'s range in an /etc/sub[ug]id file, as usermod spells it ("START-END"), if any. */
function subRange(file: string, name: string): string | undefined {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const line = text.split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) return undefined;
  const [, start, count] = line.split(':').map(Number) as [unknown, number, number];
  return `${start}-${start + count - 1}`;
}

/**
 * Gives `name` a subordinate range (useradd usually made one already) or takes it away, through
 * usermod: it locks the files, and test files making users run at the same time.
 */
function setSubIds(name: string, wanted: boolean, start: number): void {
  const uids = subRange('/etc/subuid', name);
  const gids = subRange('/etc/subgid', name);
  if (wanted && (!uids || !gids)) {
    const range = `${start}-${start + 65535}`;
    execFileSync('usermod', ['--add-subuids', range, '--add-subgids', range, name]);
  } else if (!wanted && (uids || gids)) {
    execFileSync('usermod', [...(uids ? ['--del-subuids', uids] : []), ...(gids ? ['--del-subgids', gids] : []), name]);
  }
}

export function ensureTunUsable(): void {
  const tun = '/dev/net/tun';
  if ((statSync(tun).mode & 0o006) !== 0o006) chmodSync(tun, 0o666);
}

/**
 * A fresh user `name` (removed first if a killed run left it), with a subordinate range (useradd's own, else one at `subStart`) or, with
 * `subStart` undefined, none.
 */
export function makeUser(name: string, subStart: number | undefined, base: string): TestUser {
  spawnSync('userdel', ['-f', name], { stdio: 'ignore' });
  const home = path.join(base, name);
  execFileSync('useradd', ['-M', '-d', home, '-s', '/bin/sh', name]);
  mkdirSync(home, { recursive: true });
  const { uid, gid } = idsOf(name);
  chownSync(home, uid, gid);
  setSubIds(name, subStart !== undefined, subStart ?? 0);
  let contexts = 0;
  return {
    name, uid, gid, home,
    berth: (args, options = {}) => new Promise((resolve) => {
      const env = ['HOME=' + home, `USER=${name}`, 'PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', 'NO_COLOR=1',
        ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`)];
      execFile('runuser', ['-u', name, '--', 'env', '-i', ...env, BERTH, ...args], { cwd: options.cwd ?? home, maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) => {
          const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 1) : 0;
          resolve({ code, stdout: String(stdout), stderr: String(stderr) });
        });
    }),
    context(files) {
      const dir = path.join(home, `ctx${contexts++}`);
      for (const [file, content] of Object.entries(files)) {
        mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        writeFileSync(path.join(dir, file), content);
      }
      mkdirSync(dir, { recursive: true });
      execFileSync('chown', ['-R', `${uid}:${gid}`, dir]);
      return dir;
    },
  };
}

export function removeUser(user: TestUser | undefined): void {
  if (!user) return;
  // userdel takes the subordinate ranges away too.
  spawnSync('userdel', ['-f', user.name], { stdio: 'ignore' });
}

/** A base directory the test users can reach (their homes live in it). */
export function makeBase(): { dir: string; busybox: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-rootless-'));
  chmodSync(dir, 0o755);
  const busybox = path.join(dir, 'busybox.tar');
  execFileSync(path.join(REPO, 'scripts/busybox-rootfs.sh'), [busybox]);
  chmodSync(busybox, 0o644);
  return { dir, busybox, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Gives `user` a copy of the busybox tarball and imports it as busybox:local. */
export async function importBusybox(user: TestUser, tarball: string): Promise<void> {
  const copy = path.join(user.home, 'busybox.tar');
  copyFileSync(tarball, copy);
  chownSync(copy, user.uid, user.gid);
  const result = await user.berth(['import', '-c', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', copy, 'busybox:local']);
  if (result.code !== 0) throw new Error(`import as ${user.name} failed: ${result.stderr}`);
}
