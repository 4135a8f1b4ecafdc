/**
 * Real builds through the CLI for the engine tests: a temp BERTH_ROOT with busybox:local imported
 * from the host's static busybox, contexts written from a map, and the built file system read back
 * through `-o type=local`. Needs root.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);
export const REPO = path.resolve(import.meta.dirname, '../..');
const BERTH = path.join(REPO, 'bin/berth');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface BuildBox {
  /** The store root (BERTH_ROOT). */
  root: string;
  /** Scratch space for contexts and outputs. */
  dir: string;
  berth(args: string[], env?: Record<string, string>): Promise<CliResult>;
  /** A context directory holding `files` (name -> content). */
  context(files: Record<string, string>): string;
  /** Builds `ctx` with `args` and exports the file system; throws with the log when it fails. */
  buildFs(ctx: string, args?: string[], env?: Record<string, string>): Promise<{ out: string; log: string }>;
  cleanup(): void;
}

export async function makeBuildBox(name: string): Promise<BuildBox> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `berth-${name}-`));
  const root = path.join(dir, 'store');
  let count = 0;
  const berth = (args: string[], env: Record<string, string> = {}): Promise<CliResult> => new Promise((resolve) => {
    execFile(BERTH, args, {
      env: { ...process.env, BERTH_ROOT: root, NO_COLOR: '1', ...env }, cwd: dir, maxBuffer: 64 << 20,
    }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
  const tarball = path.join(dir, 'busybox.tar');
  await exec(path.join(REPO, 'scripts/busybox-rootfs.sh'), [tarball]);
  const imported = await berth(['import', '-c', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', tarball, 'busybox:local']);
  if (imported.code !== 0) throw new Error(`import failed: ${imported.stderr}`);
  return {
    root, dir, berth,
    context(files) {
      const ctx = path.join(dir, `ctx-${count++}`);
      mkdirSync(ctx, { recursive: true });
      for (const [file, content] of Object.entries(files)) {
        mkdirSync(path.dirname(path.join(ctx, file)), { recursive: true });
        writeFileSync(path.join(ctx, file), content);
      }
      return ctx;
    },
    async buildFs(ctx, args = [], env = {}) {
      const out = path.join(dir, `out-${count++}`);
      const result = await berth(['build', '--progress', 'plain', '-o', `type=local,dest=${out}`, ...args, ctx], env);
      if (result.code !== 0) throw new Error(`build failed (${result.code}):\n${result.stderr}`);
      return { out, log: result.stderr };
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function read(dir: string, file: string): string {
  return readFileSync(path.join(dir, file), 'utf8');
}
