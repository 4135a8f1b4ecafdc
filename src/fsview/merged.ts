import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { fsExtra, lstatOrUndefined } from '../sys/fsx.ts';
import { overlayXattr } from '../layer/overlay-format.ts';

/**
 * A read view of an overlay stack without mounting it: layers are directories in overlay-upper
 * form (whiteouts are 0:0 character devices, opaque directories carry trusted.overlay.opaque=y),
 * top first. Lookups follow overlayfs' rules, so reading through this view sees what a RUN would.
 */
export interface MergedView {
  layers: readonly string[];
  /**
   * Directories this step made in the upper dir, with no directory below them: nothing under
   * them exists in a lower layer, so writes there need no lookups through the stack.
   */
  freshDirs?: Set<string>;
  /** Directories known to exist in the upper dir (created or copied up) by this step. */
  upperDirs?: Set<string>;
  /** Non-directories this step wrote into the upper dir (every write goes through fileSlot). */
  upperFiles?: Set<string>;
}

export interface MergedEntry {
  /** Host path of the topmost layer's copy. */
  hostPath: string;
  stat: Stats;
  /** Layers (indexes into `layers`) holding this directory, top first; one entry for non-directories. */
  dirLayers: number[];
}


export function isWhiteout(stat: Stats): boolean {
  return stat.isCharacterDevice() && stat.rdev === 0;
}

function isOpaque(dir: string): boolean {
  const value = fsExtra().lgetxattr(dir, overlayXattr('opaque'));
  return value !== null && value.toString() === 'y';
}

function splitRel(rel: string): string[] {
  return rel.split('/').filter((c) => c !== '' && c !== '.');
}

/** The entry at `rel` (no symlink following), or undefined when absent or whited out. */
export function lookup(view: MergedView, rel: string): MergedEntry | undefined {
  let dirLayers = view.layers.map((_, i) => i);
  let current: MergedEntry | undefined = {
    hostPath: view.layers[0], stat: lstatSync(view.layers[0]), dirLayers,
  };
  let relSoFar = '';
  for (const name of splitRel(rel)) {
    if (!current || !current.stat.isDirectory()) return undefined;
    relSoFar = relSoFar ? `${relSoFar}/${name}` : name;
    let found: MergedEntry | undefined;
    const nextDirs: number[] = [];
    for (const index of dirLayers) {
      const hostPath = path.join(view.layers[index], relSoFar);
      const stat = lstatOrUndefined(hostPath);
      if (!stat) continue;
      if (isWhiteout(stat)) break;
      if (!stat.isDirectory()) {
        if (!found) found = { hostPath, stat, dirLayers: [index] };
        break;
      }
      if (!found) found = { hostPath, stat, dirLayers: nextDirs };
      nextDirs.push(index);
      if (isOpaque(hostPath)) break;
    }
    current = found;
    dirLayers = nextDirs;
  }
  return current;
}

/** Names in a merged directory with the entry for each, sorted by name. */
export function readMergedDir(view: MergedView, rel: string, dir: MergedEntry): Map<string, MergedEntry> {
  const out = new Map<string, MergedEntry>();
  const hidden = new Set<string>();
  for (const index of dir.dirLayers) {
    const hostDir = path.join(view.layers[index], rel);
    for (const name of readdirSync(hostDir)) {
      if (out.has(name) || hidden.has(name)) continue;
      const entry = lookup(view, rel ? `${rel}/${name}` : name);
      if (entry) out.set(name, entry);
      else hidden.add(name);
    }
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Resolves `rel` inside the view's root the way a chrooted process would: symlinks in the middle
 * (and at the end when `followFinal`) are followed, `..` never climbs above the root. With `base`,
 * the directory `base` (already resolved) plays the root: `rel` is taken below it, absolute
 * symlinks restart from it and `..` stops at it, as for a process chrooted there (ADD's archive
 * extraction). The result is always relative to the view's root.
 */
export function resolveInRoot(view: MergedView, rel: string, followFinal: boolean, base = ''): string {
  const root = splitRel(base);
  const pending = splitRel(rel);
  const resolved: string[] = [...root];
  let hops = 0;
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (name === '..') {
      if (resolved.length > root.length) resolved.pop();
      continue;
    }
    const candidate = [...resolved, name].join('/');
    const entry = lookup(view, candidate);
    const isLast = pending.length === 0;
    if (entry?.stat.isSymbolicLink() && (!isLast || followFinal)) {
      if (++hops > 255) throw Object.assign(new Error(`too many levels of symbolic links: /${rel}`), { code: 'ELOOP' });
      const target = readlinkSync(entry.hostPath);
      if (target.startsWith('/')) resolved.length = root.length;
      pending.unshift(...splitRel(target));
      continue;
    }
    resolved.push(name);
  }
  return resolved.join('/');
}

/** Whether a layer below the top one has a directory at `rel` (an upper entry may hide it). */
export function lowerHasDir(view: MergedView, rel: string): boolean {
  if (view.layers.length < 2) return false;
  return lookup({ layers: view.layers.slice(1) }, rel)?.stat.isDirectory() === true;
}
