import { processState } from '../sys/process.ts';

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
