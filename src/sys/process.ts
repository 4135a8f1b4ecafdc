import { readFileSync } from 'node:fs';

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
