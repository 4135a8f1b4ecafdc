/**
 * USER and --chown resolution against a root filesystem's /etc/passwd and /etc/group, with
 * Docker's rules: numeric ids need no entry, names must exist, a user's primary group comes from
 * passwd and supplementary groups from group.
 */
export interface PasswdEntry { name: string; uid: number; gid: number; home: string }
export interface GroupEntry { name: string; gid: number; members: string[] }

export interface ResolvedUser {
  uid: number;
  gid: number;
  groups: number[];
  home: string;
}

export class UserLookupError extends Error {}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4 || !/^\d+$/.test(f[2]) || !/^\d+$/.test(f[3])) continue;
    out.push({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '/' });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3 || !/^\d+$/.test(f[2])) continue;
    out.push({ name: f[0], gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) });
  }
  return out;
}

const isId = (s: string): boolean => /^\d+$/.test(s);

/**
 * `user`, `uid`, `user:group`, `uid:gid` for a RUN process (runc's GetExecUser rules). The
 * supplementary groups start with the primary GID, as containerd, runc and Buildah set them since
 * the 2023 supplementary-group fixes (Docker 26: `id` shows `groups=1000(app)`); /etc/group
 * memberships follow only when no group was named. No USER at all is 0:0 even with no passwd.
 */
export function resolveExecUser(spec: string, passwd: PasswdEntry[], groups: GroupEntry[]): ResolvedUser {
  if (spec === '' && !passwd.some((p) => p.name === 'root')) return { uid: 0, gid: 0, groups: [0], home: '/' };
  const [userPart, groupPart] = spec === '' ? ['root', undefined] : splitOnce(spec);
  let user = isId(userPart) ? passwd.find((p) => p.uid === Number(userPart)) : passwd.find((p) => p.name === userPart);
  if (!user && !isId(userPart)) throw new UserLookupError(`unable to find user ${userPart}: no matching entries in passwd file`);
  const uid = user ? user.uid : Number(userPart);
  let gid = user ? user.gid : 0;
  const home = user ? user.home : '/';
  let members: number[] = [];
  if (groupPart !== undefined && groupPart !== '') {
    gid = resolveGroup(groupPart, groups);
  } else if (user) {
    members = groups.filter((g) => g.members.includes(user!.name) && g.gid !== gid).map((g) => g.gid);
  }
  user = undefined;
  return { uid, gid, groups: [gid, ...members], home };
}

function resolveGroup(name: string, groups: GroupEntry[]): number {
  if (isId(name)) return Number(name);
  if (name === 'root') return 0;
  const group = groups.find((g) => g.name === name);
  if (!group) throw new UserLookupError(`unable to find group ${name}: no matching entries in group file`);
  return group.gid;
}

function splitOnce(spec: string): [string, string | undefined] {
  const i = spec.indexOf(':');
  return i < 0 ? [spec, undefined] : [spec.slice(0, i), spec.slice(i + 1)];
}

/** `--chown=user[:group]`: a name-only user takes its primary group; ids need no entries. */
export function resolveChown(spec: string, passwd: PasswdEntry[], groups: GroupEntry[]): { uid: number; gid: number } {
  const [userPart, groupPart] = splitOnce(spec);
  let uid: number;
  let gid: number | undefined;
  // BuildKit's chown parsing takes `root` as uid 0 before any lookup (so no /etc/passwd needed).
  if (isId(userPart) || userPart === 'root') {
    uid = userPart === 'root' ? 0 : Number(userPart);
  } else {
    const user = passwd.find((p) => p.name === userPart);
    if (!user) throw new UserLookupError(`unable to convert uid/gid chown string to host mapping: can't find uid for user ${userPart}: no such user: ${userPart}`);
    uid = user.uid;
    gid = user.gid;
  }
  if (groupPart !== undefined && groupPart !== '') gid = resolveGroup(groupPart, groups);
  return { uid, gid: gid ?? uid };
}

/**
 * The owner of the directories WORKDIR makes for the current USER. BuildKit resolves it as a
 * `--chown` (a bare uid owns as uid:uid, `root` is 0 with no passwd), but a user name that is
 * not found is 0, and a group name not found leaves the user's group, instead of failing the
 * build (Docker 20.10 and 26 agree).
 */
export function resolveWorkdirOwner(spec: string, passwd: PasswdEntry[], groups: GroupEntry[]): { uid: number; gid: number } {
  const [userPart, groupPart] = splitOnce(spec);
  const byName = !isId(userPart) && userPart !== 'root';
  const user = byName ? passwd.find((p) => p.name === userPart) : undefined;
  const uid = byName ? user?.uid ?? 0 : userPart === 'root' ? 0 : Number(userPart);
  let gid = byName ? user?.gid ?? 0 : uid;
  if (groupPart !== undefined && groupPart !== '') {
    try {
      gid = resolveGroup(groupPart, groups);
    } catch {
      // keep the user's own group
    }
  }
  return { uid, gid };
}
