import { execFile, type ExecFileOptions } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * The state letter of process `pid` from /proc (R, S, D, Z, X, ...), or undefined when it is gone.
 * The command name in /proc/PID/stat may hold spaces and parentheses: the state follows the last ')'.
 */
export function processState(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const close = stat.lastIndexOf(')');
  return stat.slice(close + 2, close + 3);
}

/**
 * Whether a process is alive: how temp dirs, claims and locks left by killed builds are told from
 * those of builds still running (EPERM means it exists but belongs to someone else). A zombie is
 * dead: it holds nothing any more, and a killed build's process may stay one until its new
 * parent reaps it.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // Without /proc (undefined) kill's answer stands.
  return processState(pid) !== 'Z';
}

/** An executable `program` on PATH (or the usual system places), or undefined. */
export function findExecutable(program: string, envPath: string = process.env.PATH ?? ''): string | undefined {
  for (const dir of [...envPath.split(':').filter(Boolean), '/usr/bin', '/usr/local/bin', '/bin']) {
    const candidate = path.join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/**
 * A program's output as text. promisify runs per call, not at load: module-level code must not
 * reach node:child_process (the start-up snapshot is built without it).
 */
export function execFileText(file: string, args: string[], options: ExecFileOptions): Promise<{ stdout: string; stderr: string }> {
  return promisify(execFile)(file, args, { ...options, encoding: 'utf8' });
}
