import { readFileSync } from 'node:fs';
import { lookup, resolveInRoot, type MergedView } from '../fsview/merged.ts';
import { parseGroup, parsePasswd, type GroupEntry, type PasswdEntry } from './users.ts';

function readInView(view: MergedView, rel: string): string {
  const entry = lookup(view, resolveInRoot(view, rel, true));
  if (!entry || !entry.stat.isFile()) return '';
  return readFileSync(entry.hostPath, 'utf8');
}

/** /etc/passwd and /etc/group of a root file system seen through its layers. */
export function readUserDb(view: MergedView): { passwd: PasswdEntry[]; groups: GroupEntry[] } {
  return { passwd: parsePasswd(readInView(view, 'etc/passwd')), groups: parseGroup(readInView(view, 'etc/group')) };
}
