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

/** `user`, `uid`, `user:group`, `uid:gid` for a RUN process (runc's GetExecUser rules). */
export function resolveExecUser(spec: string, passwd: PasswdEntry[], groups: GroupEntry[]): ResolvedUser {
  const [userPart, groupPart] = spec === '' ? ['root', undefined] : splitOnce(spec);
  let user = isId(userPart) ? passwd.find((p) => p.uid === Number(userPart)) : passwd.find((p) => p.name === userPart);
  if (!user && !isId(userPart)) throw new UserLookupError(`unable to find user ${userPart}: no matching entries in passwd file`);
  const uid = user ? user.uid : Number(userPart);
  let gid = user ? user.gid : 0;
  const home = user ? user.home : '/';
  let supplementary: number[] = [];
  if (groupPart !== undefined && groupPart !== '') {
    gid = resolveGroup(groupPart, groups);
  } else if (user) {
    supplementary = groups.filter((g) => g.members.includes(user!.name) && g.gid !== gid).map((g) => g.gid);
  }
  user = undefined;
  return { uid, gid, groups: supplementary, home };
}

function resolveGroup(name: string, groups: GroupEntry[]): number {
  if (isId(name)) return Number(name);
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
  if (isId(userPart)) {
    uid = Number(userPart);
  } else {
    const user = passwd.find((p) => p.name === userPart);
    if (!user) throw new UserLookupError(`unable to convert uid/gid chown string to host mapping: can't find uid for user ${userPart}: no such user: ${userPart}`);
    uid = user.uid;
    gid = user.gid;
  }
  if (groupPart !== undefined && groupPart !== '') gid = resolveGroup(groupPart, groups);
  return { uid, gid: gid ?? uid };
}
