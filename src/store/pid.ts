/**
 * Whether a process is alive: how temp dirs, claims and locks left by killed builds are told from
 * those of builds still running (EPERM means it exists but belongs to someone else).
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
