/**
 * Temp files and directories are named after the process writing them (`<pid>-<hex>`, with a
 * purpose in front for directories and a `.tmp` after for files), so what a killed writer leaves
 * behind is told from what a running one still writes: a name whose pid is gone is garbage. Every
 * build sweeps the areas where such leftovers collect (cheap: a few readdirs) and prune sweeps
 * them too, under its exclusive lock.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { StoreLayout } from './layout.ts';
import { pidAlive } from '../sys/process.ts';

/** A name no other writer has, carrying this process's pid: `[purpose-]<pid>-<hex>`. */
export function writerName(purpose?: string): string {
  const name = `${process.pid}-${randomBytes(6).toString('hex')}`;
  return purpose ? `${purpose}-${name}` : name;
}

/** The pid in a name writerName made (with an optional leading dot and `.tmp`), or undefined. */
export function writerPidOf(name: string): number | undefined {
  const m = /^\.?(?:[a-z]+-)?(\d+)-[0-9a-f]+(?:\.tmp)?$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** Removes the entries of `dir` whose writer is gone; returns their names. */
export function sweepDeadWriters(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = writerPidOf(name);
    if (pid === undefined || pid === process.pid || pidAlive(pid)) continue;
    rmSync(path.join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/**
 * What killed builds, runs, pulls and pushes leave: scratch directories, half-written blobs and
 * half-written mount hints. Safe while other berths run: theirs carry live pids. Mounts never
 * need cleaning here: they live in the sandbox's own mount namespace and die with it.
 */
export function sweepStore(layout: StoreLayout): string[] {
  return [layout.tmp, layout.ingest, layout.registrySources, layout.layerVariants].flatMap((dir) => sweepDeadWriters(dir).map((name) => path.join(dir, name)));
}
