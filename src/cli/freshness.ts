import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StatChunk } from '../context/stats.ts';
import { fsExtra } from '../sys/fsx.ts';

/**
 * Whether the start-up snapshot still is the code in its checkout. bin/berth runs the snapshot
 * without looking at the sources (a shell walking them cost more than a tenth of a no-op build);
 * the snapshot checks instead, here, against what scripts/bundle.ts baked in: every directory
 * under src/ and grammar/ with the names it held. A directory whose names differ (a file added,
 * removed or renamed) or with an entry changed (ctime, which any write, rename or utime moves)
 * since the bundle was made sends the run to the TypeScript sources. One native call a directory
 * (readdirStat) keeps this at about a millisecond and a half, nearly all of it the stat calls.
 */
export interface SnapshotSources {
  /** The checkout the snapshot was built in. */
  root: string;
  /** When the bundle was made, before it read any source. */
  builtMs: number;
  /** Each directory (relative to root) with its entries' names, sorted, joined with NULs. */
  dirs: Array<[dir: string, names: string]>;
}

declare const __BERTH_SOURCES__: SnapshotSources | undefined;

/** What the bundle baked in; undefined when running from the sources themselves. */
export const BAKED_SOURCES: SnapshotSources | undefined = typeof __BERTH_SOURCES__ === 'object' ? __BERTH_SOURCES__ : undefined;

/** True when a source directory or an entry in one changed since the build (or is gone). */
export function sourcesChanged(sources: SnapshotSources): boolean {
  let fsx;
  try {
    fsx = fsExtra();
  } catch {
    // No addon (native/build removed?): the sources run, and say so when they need it.
    return true;
  }
  for (const [dir, names] of sources.dirs) {
    let listed: [string, ArrayBuffer];
    try {
      listed = fsx.readdirStat(`${sources.root}/${dir}`, '');
    } catch {
      return true;
    }
    if (listed[0] !== names || new StatChunk(listed[1], listed[0]).newestCtimeMs() > sources.builtMs) return true;
  }
  return false;
}

/** Runs `args` with berth's TypeScript sources in a child node, standing in for it (standIn). */
export function runFromSources(root: string, args: string[], main = path.join(root, 'src/cli/main.ts')): Promise<number> {
  const env = { ...process.env, NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE ?? path.join(root, 'node_modules/.cache/berth-compile') };
  const nodeArgs = [process.execPath, '--disable-warning=ExperimentalWarning', main, ...args];
  // Through the sandbox helper when it is built: the child then dies with us (PR_SET_PDEATHSIG).
  const helper = path.join(root, 'native/build/berth-sandbox');
  const [command, ...rest] = existsSync(helper) ? [helper, '--pdeathsig-exec', ...nodeArgs] : nodeArgs;
  return standIn(command, rest, env);
}

/**
 * Runs `command` standing in for it: the child shares standard streams, gets the signals this
 * process receives, and its exit status becomes this one's (128 + the signal when a signal ended
 * it, as a shell reports it).
 */
export function standIn(command: string, rest: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const child = spawn(command, rest, { stdio: 'inherit', env });
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
      process.stderr.write(`error: cannot start ${command}: ${error.message}\n`);
      finish(127);
    });
    child.on('exit', (code, signal) => finish(code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0)));
  });
}
