import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Whether the start-up snapshot still is the code in its checkout. bin/berth runs the snapshot
 * without looking at the sources (a shell walking them cost more than a tenth of a no-op build);
 * the snapshot checks instead, here, with the list of every file and directory under src/ and
 * grammar/ that scripts/bundle.ts baked in: any of them newer than the snapshot, or gone, and it
 * hands over to the TypeScript sources. Directories are listed so that an added file counts too
 * (making or renaming a file changes its directory's mtime).
 */
export interface SnapshotSources {
  /** The checkout the snapshot was built in. */
  root: string;
  /** When the bundle was made (the blob carries the same mtime). */
  builtMs: number;
  /** Paths relative to root. */
  paths: string[];
}

declare const __BERTH_SOURCES__: SnapshotSources | undefined;

/** What the bundle baked in; undefined when running from the sources themselves. */
export const BAKED_SOURCES: SnapshotSources | undefined = typeof __BERTH_SOURCES__ === 'object' ? __BERTH_SOURCES__ : undefined;

/** True when a listed path is newer than the build or no longer there. */
export function sourcesChanged(sources: SnapshotSources): boolean {
  for (const rel of sources.paths) {
    const stats = statSync(path.join(sources.root, rel), { throwIfNoEntry: false });
    if (stats === undefined || stats.mtimeMs > sources.builtMs) return true;
  }
  return false;
}

/**
 * Runs `args` with berth's TypeScript sources in a child node, standing in for it: the child
 * shares standard streams, gets the signals this process receives, and its exit status becomes
 * this one's (128 + the signal when a signal ended it, as a shell reports it).
 */
export function runFromSources(root: string, args: string[], main = path.join(root, 'src/cli/main.ts')): Promise<number> {
  const env = { ...process.env, NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE ?? path.join(root, 'node_modules/.cache/berth-compile') };
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', main, ...args], { stdio: 'inherit', env });
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
  for (const signal of signals) process.on(signal, forward);
  return new Promise((resolve) => {
    const finish = (status: number): void => {
      for (const signal of signals) process.off(signal, forward);
      resolve(status);
    };
    child.on('error', (error) => {
      process.stderr.write(`error: cannot start ${process.execPath}: ${error.message}\n`);
      finish(127);
    });
    child.on('exit', (code, signal) => finish(code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0)));
  });
}
