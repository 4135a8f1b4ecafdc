/**
 * For the install tests: berth packed from a clean copy of the working tree (what git tracks or
 * would track, with the checkout's node_modules linked in for prepack's bundler), and a build
 * context FROM scratch that needs no base image: Debian's static busybox copied in.
 */
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, copyFileSync, lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const REPO = path.resolve(import.meta.dirname, '../..');

/** Copies the working tree's files (not what .gitignore leaves out) into `dir`; node_modules is linked. */
export function cleanCopy(dir: string): string {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const file of files) {
    const from = path.join(REPO, file);
    const to = path.join(dir, file);
    mkdirSync(path.dirname(to), { recursive: true });
    try {
      if (lstatSync(from).isSymbolicLink()) symlinkSync(readlinkSync(from), to);
      else copyFileSync(from, to);
    } catch (error) {
      // Deleted in the working tree, not yet in git's index.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

/** `npm pack` of the copy at `dir` (prepack bundles lib/); the tarball's path. */
export function pack(dir: string, into: string): string {
  mkdirSync(into, { recursive: true });
  execFileSync('npm', ['pack', '--pack-destination', into], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const [tarball] = readdirSync(into).filter((name) => name.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack left no tarball in ${into}`);
  return path.join(into, tarball);
}

/** A context FROM scratch whose RUN needs nothing but the busybox it copies in. */
export function scratchContext(dir: string): string {
  mkdirSync(dir, { recursive: true });
  copyFileSync('/bin/busybox', path.join(dir, 'busybox'));
  chmodSync(path.join(dir, 'busybox'), 0o755);
  writeFileSync(path.join(dir, 'Dockerfile'), [
    'FROM scratch',
    'COPY busybox /bin/busybox',
    'USER 0:0',
    'RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir -p /out && /bin/busybox echo built from scratch > /out/hi"]',
    'CMD ["/bin/busybox", "cat", "/out/hi"]',
    '',
  ].join('\n'));
  return dir;
}

/** What npm needs from this environment: its cache (so installs reuse what is there) and the CA bundle. */
export function npmEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'npm_config_cafile']) if (process.env[key]) env[key] = process.env[key]!;
  return env;
}

export function run(command: string, args: string[], options: { env: Record<string, string>; cwd?: string; timeout?: number }): SpawnSyncReturns<string> {
  return spawnSync(command, args, { env: options.env, cwd: options.cwd, encoding: 'utf8', timeout: options.timeout ?? 120_000, maxBuffer: 64 * 1024 * 1024 });
}

/** Fails with the command's output when it did not exit 0. */
export function ok(result: SpawnSyncReturns<string>, what: string): string {
  if (result.status !== 0) throw new Error(`${what} failed (${result.status ?? result.signal ?? result.error?.message}): ${result.stderr}\n${result.stdout}`);
  return result.stdout;
}
