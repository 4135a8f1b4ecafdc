/**
 * The static system-call probe (probe.c) for test containers: compiled once per test file into a
 * rootfs, run as `/bin/probe name...`, its "name errno" lines parsed into a record.
 */
import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('./probe.c', import.meta.url));

/** Builds the probe as `<rootfs>/bin/probe` (static: the busybox rootfs has no libc). */
export async function installProbe(rootfs: string): Promise<void> {
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  execFileSync('gcc', ['-static', '-O1', '-o', join(rootfs, 'bin', 'probe'), SOURCE], { stdio: 'inherit' });
}

/** "name errno" lines to { name: errno } (0: the call succeeded). */
export function parseProbe(stdout: string): Record<string, number> {
  const result: Record<string, number> = {};
  for (const line of stdout.trim().split('\n')) {
    const [name, errno] = line.split(' ');
    if (name && errno !== undefined) result[name] = Number(errno);
  }
  return result;
}

export const EPERM = 1;
export const ENOENT = 2;
export const EACCES = 13;
export const ENOSYS = 38;
