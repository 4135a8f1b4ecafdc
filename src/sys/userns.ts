/**
 * Whether berth runs inside a user namespace of its own (rootless: bin/berth entered it through
 * native/src/userns.c), and how ids map. Decided from /proc/self/uid_map, not from an environment
 * variable, because the kernel's view is what matters: in a user namespace overlay needs the
 * `userxattr` option and `user.overlay.*` xattrs, device nodes cannot be made, cgroups are not ours
 * and only mapped ids can own files.
 */
import { readFileSync } from 'node:fs';
import { startupSnapshot } from 'node:v8';

export interface IdRange {
  inside: number;
  outside: number;
  count: number;
}

export interface UserNamespace {
  /** True when this process is not in the initial user namespace (the full identity map). */
  rootless: boolean;
  uids: IdRange[];
  gids: IdRange[];
}

function parseMap(text: string): IdRange[] {
  return text.split('\n').map((line) => line.trim().split(/\s+/).map(Number))
    .filter((f) => f.length === 3 && f.every(Number.isFinite))
    .map(([inside, outside, count]) => ({ inside, outside, count }));
}

/** The initial namespace maps every id to itself: 0 0 4294967295. */
export function isInitialMap(ranges: readonly IdRange[]): boolean {
  return ranges.length === 1 && ranges[0].inside === 0 && ranges[0].outside === 0 && ranges[0].count === 4294967295;
}

let cached: UserNamespace | undefined;

export function userNamespace(): UserNamespace {
  if (cached) return cached;
  let uids: IdRange[] = [];
  let gids: IdRange[] = [];
  try {
    uids = parseMap(readFileSync('/proc/self/uid_map', 'utf8'));
    gids = parseMap(readFileSync('/proc/self/gid_map', 'utf8'));
  } catch {
    // No /proc: treat as the initial namespace, the only place berth could then run.
    uids = [{ inside: 0, outside: 0, count: 4294967295 }];
  }
  const found = { rootless: !isInitialMap(uids), uids, gids };
  // The start-up snapshot is made as whoever installed berth: what it saw must not be kept.
  if (!startupSnapshot.isBuildingSnapshot()) cached = found;
  return found;
}

/** How many uids this namespace maps (1: only the user's own, no subordinate range). */
export function mappedUidCount(ns: UserNamespace = userNamespace()): number {
  return ns.uids.reduce((n, r) => n + r.count, 0);
}

/** True when `id` has a mapping (can own a file) in these ranges. */
export function isMapped(ranges: readonly IdRange[], id: number): boolean {
  return ranges.some((r) => id >= r.inside && id < r.inside + r.count);
}

/** The host uid this namespace's root is (the user who started berth), or 0 outside one. */
export function hostUid(): number {
  const ns = userNamespace();
  if (!ns.rootless) return process.getuid?.() ?? 0;
  return ns.uids.find((r) => r.inside === 0)?.outside ?? -1;
}

/**
 * A clear message for the error a rootless berth gets when a file must be owned by an id its
 * user namespace cannot map (EINVAL from chown): with only the user's own id mapped, anything
 * owned by another user (an image's /home/app, `USER 1000`, `COPY --chown`) cannot be made.
 */
export function explainUnmappedOwner(error: unknown): string | undefined {
  const e = error as NodeJS.ErrnoException;
  if (e?.code !== 'EINVAL' || !/chown/.test(e.syscall ?? '') || !userNamespace().rootless) return undefined;
  const mapped = mappedUidCount();
  const where = e.path ? ` (${e.path})` : '';
  const user = process.env.USER || process.env.LOGNAME || 'USER';
  if (mapped <= 1) {
    return `a file needs an owner other than root${where}, and berth's user namespace maps only your own id: `
      + `give ${user} subordinate ids, e.g. as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${user} (and install uidmap)`;
  }
  return `a file needs an owner outside the ${mapped} ids berth's user namespace maps${where}: widen ${user}'s ranges in /etc/subuid and /etc/subgid`;
}

/** One line for a rootless build's log: how ids map, and what a single mapping cannot do. */
export function describeRootless(): string {
  const mapped = mappedUidCount();
  if (mapped <= 1) {
    return 'rootless: only your own id is mapped (no /etc/subuid range): a step that makes files owned by anyone but root will fail, saying so';
  }
  return `rootless: user namespace of ${mapped} ids (your id and /etc/subuid's range)`;
}
