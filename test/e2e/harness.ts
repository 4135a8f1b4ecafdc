import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO = path.resolve(import.meta.dirname, '../..');
export const BERTH = path.join(REPO, 'bin/berth');

export interface CliResult { code: number; stdout: string; stderr: string }

/** A throwaway store with the busybox base imported as busybox:local. */
export interface Sandbox {
  root: string;
  dir: string;
  berth(args: string[], options?: { cwd?: string; input?: string }): Promise<CliResult>;
  spawnBerth(args: string[], options?: { cwd?: string }): ChildProcess;
  context(files: Record<string, string>): string;
  cleanup(): void;
}

export async function makeSandbox(): Promise<Sandbox> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-e2e-'));
  const root = path.join(dir, 'store');
  const env = { ...process.env, BERTH_ROOT: root, NO_COLOR: '1' };
  const berth = async (args: string[], options: { cwd?: string; input?: string } = {}): Promise<CliResult> => {
    return new Promise((resolve) => {
      const child = execFile(BERTH, args, { env, cwd: options.cwd ?? dir, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
        const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      });
      if (options.input !== undefined) child.stdin?.end(options.input);
    });
  };
  const tarball = path.join(dir, 'busybox.tar');
  await run(path.join(REPO, 'scripts/busybox-rootfs.sh'), [tarball]);
  const imported = await berth(['import', '-c', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', tarball, 'busybox:local']);
  if (imported.code !== 0) throw new Error(`import failed: ${imported.stderr}`);
  let contexts = 0;
  return {
    root, dir, berth,
    spawnBerth: (args, options = {}) => spawn(BERTH, args, { env, cwd: options.cwd ?? dir, stdio: ['ignore', 'pipe', 'pipe'] }),
    context(files) {
      const ctx = path.join(dir, `ctx${contexts++}`);
      for (const [name, content] of Object.entries(files)) {
        mkdirSync(path.dirname(path.join(ctx, name)), { recursive: true });
        writeFileSync(path.join(ctx, name), content);
      }
      mkdirSync(ctx, { recursive: true });
      return ctx;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Mounts in the host's namespace that mention `text` (a store root, say). */
export function mountsMentioning(text: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(text));
}

/**
 * Live sandbox helpers started for the store at `root`, so other tests' containers running at
 * the same time are not counted.
 */
export function sandboxProcesses(root: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSafe('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes('berth-sandbox')) continue;
      // The helper runs in the test's directory; the container's init sees the store's layers
      // in its own mount table. Either ties the process to this store.
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      const mounts = readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
      if (cwd.startsWith(path.dirname(root)) || mounts.includes(root)) out.push(`${pid} ${cmd.replaceAll('\0', ' ')}`);
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * How each Dockerfile instruction step (RUN, COPY, ADD, WORKDIR; not FROM, `[internal]` or the
 * export) ended in a `--progress plain` log: `CACHED`, `DONE` or `ERROR`, by label.
 */
export function instructionOutcomes(log: string): Array<{ name: string; outcome: string }> {
  const names = new Map<string, string>();
  const out: Array<{ name: string; outcome: string }> = [];
  for (const line of log.split('\n')) {
    const m = /^#(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const [, id, rest] = m;
    if (!names.has(id)) names.set(id, rest);
    const name = names.get(id)!;
    const outcome = /^(CACHED|DONE|ERROR)\b/.exec(rest)?.[1];
    if (outcome && /^\[[^\]]+\] (ONBUILD )?(RUN|COPY|ADD|WORKDIR) /.test(name)) out.push({ name, outcome });
  }
  return out;
}

/** How many instruction steps of a plain log ended with `outcome`. */
export function countOutcome(log: string, outcome: 'CACHED' | 'DONE' | 'ERROR'): number {
  return instructionOutcomes(log).filter((s) => s.outcome === outcome).length;
}
