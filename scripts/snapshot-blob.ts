/**
 * Turns the bundled snapshot entry (lib/snapshot/snapshot.js or dist/snapshot/snapshot.js, made by
 * scripts/bundle.ts) into a V8 start-up blob with a given node, and smoke-tests it. Shared by the
 * checkout's bundle step and the installed package's install step (scripts/install.ts), which
 * makes the blob with the node it will run on, into a cache directory.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LAZY_BUILTINS } from './snapshot-banner.ts';

/**
 * Writes `blob` (through a temp name beside it, renamed into place only when it passed its smoke
 * test) from `entry` with `node`; `mtime` is set on it (bin/berth compares it with node's).
 * Returns why no blob came out, or undefined.
 */
export function makeBlob(node: string, entry: string, blob: string, mtime = new Date()): string | undefined {
  const listed = spawnSync(node, ['-p', `JSON.stringify(Object.fromEntries(${JSON.stringify(LAZY_BUILTINS)}.map((id) => [id, Object.getOwnPropertyNames(require(id))])))`], { env: {}, encoding: 'utf8' });
  if (listed.status !== 0) return `listing built-in modules failed: ${`${listed.stderr ?? listed.error?.message}`.trim().split('\n')[0] ?? ''}`;
  const temp = `${blob}.${process.pid}.tmp`;
  const config = `${blob}.${process.pid}.json`;
  try {
    // Without V8's code cache the blob is half the size (5 MB, not 10): reading it costs less
    // than compiling the functions a command runs.
    writeFileSync(config, `${JSON.stringify({ builder: entry, withoutCodeCache: true })}\n`);
    // A clean environment: nothing of the builder's (NODE_OPTIONS, compile cache, ...) gets in.
    const made = spawnSync(node, ['--snapshot-blob', temp, '--build-snapshot-config', config], {
      cwd: path.dirname(entry), env: { BERTH_SNAPSHOT_LAZY_KEYS: listed.stdout.trim() }, encoding: 'utf8',
    });
    if (made.status !== 0 || !existsSync(temp)) {
      const detail = `${made.stderr}`.split('\n').filter((line) => line && !/built-in module|may still work|request support|trace-warnings/.test(line));
      return `node --build-snapshot failed: ${detail.slice(0, 5).map((line) => line.slice(0, 200)).join(' / ') || made.error?.message || `status ${made.status}`}`;
    }
    // Smoke test: the command line, and the Dockerfile parser the snapshot holds ready-made.
    const check = (args: string[], input: string, expect: RegExp): string | undefined => {
      const ran = spawnSync(node, ['--snapshot-blob', temp, '--no-rehash-snapshot', '--', ...args], { cwd: path.dirname(entry), input, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
      return ran.status === 0 && expect.test(ran.stdout) ? undefined : `berth ${args.join(' ')} from the snapshot failed: ${`${ran.stderr}`.trim().split('\n')[0] ?? ''}`;
    };
    const failed = check(['--help'], '', /Usage: berth/) ?? check(['parse', '-f', '-'], 'FROM scratch\nRUN ["echo", "hi"]\n', /run/i);
    if (failed) return failed;
    // On disk before it has the name bin/berth runs: a torn blob would crash every start.
    const fd = openSync(temp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    utimesSync(temp, mtime, mtime);
    renameSync(temp, blob);
    return undefined;
  } finally {
    rmSync(temp, { force: true });
    rmSync(config, { force: true });
  }
}
