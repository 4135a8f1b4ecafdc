import { BuildError, type SourceRange } from '../source/index.ts';

/**
 * `--chmod` for COPY and ADD: an octal mode (`755`, `0640`; at most 07777) or a symbolic one as
 * chmod(1) reads it (Dockerfile 1.14+): comma-separated clauses of `[ugoa]*` followed by one or
 * more `[-+=]` operations, each with permission letters `rwxXst` or one of `u`, `g`, `o` to copy
 * that class's bits. `X` is execute only for directories and files that are executable already;
 * with no class letter the clause applies to all (no umask, as BuildKit applies it).
 */
export type ChmodFn = (mode: number, isDir: boolean) => number;

interface Action { op: '+' | '-' | '='; perms: string; copyFrom?: 'u' | 'g' | 'o' }
interface Clause { who: string; actions: Action[] }

const CLASS_SHIFT: Record<string, number> = { u: 6, g: 3, o: 0 };

function parseSymbolic(spec: string): Clause[] | undefined {
  const clauses: Clause[] = [];
  for (const text of spec.split(',')) {
    const m = /^([ugoa]*)((?:[-+=](?:[ugo]|[rwxXst]*))+)$/.exec(text);
    if (!m) return undefined;
    const actions: Action[] = [];
    for (const part of m[2].matchAll(/([-+=])([ugo]|[rwxXst]*)/g)) {
      const perms = part[2];
      const copyFrom = perms === 'u' || perms === 'g' || perms === 'o' ? perms : undefined;
      actions.push({ op: part[1] as Action['op'], perms: copyFrom ? '' : perms, copyFrom });
    }
    clauses.push({ who: m[1], actions });
  }
  return clauses;
}

/** Applies parsed clauses to one mode (permission and special bits only). */
function applyClauses(clauses: Clause[], original: number, isDir: boolean): number {
  let mode = original & 0o7777;
  for (const { who, actions } of clauses) {
    const all = who === '' || who.includes('a');
    const classes = all ? ['u', 'g', 'o'] : ['u', 'g', 'o'].filter((c) => who.includes(c));
    for (const action of actions) {
      let rwx = 0;
      let special = 0;
      if (action.copyFrom) {
        rwx = (mode >> CLASS_SHIFT[action.copyFrom]) & 0o7;
      } else {
        for (const p of action.perms) {
          if (p === 'r') rwx |= 4;
          else if (p === 'w') rwx |= 2;
          else if (p === 'x') rwx |= 1;
          else if (p === 'X' && (isDir || (original & 0o111) !== 0)) rwx |= 1;
          else if (p === 's') special |= (classes.includes('u') ? 0o4000 : 0) | (classes.includes('g') ? 0o2000 : 0);
          else if (p === 't' && (all || classes.includes('o'))) special |= 0o1000;
        }
      }
      let bits = special;
      let mask = 0;
      for (const c of classes) {
        bits |= rwx << CLASS_SHIFT[c];
        mask |= 0o7 << CLASS_SHIFT[c];
      }
      if (classes.includes('u')) mask |= 0o4000;
      if (classes.includes('g')) mask |= 0o2000;
      if (all || classes.includes('o')) mask |= 0o1000;
      if (action.op === '+') mode |= bits;
      else if (action.op === '-') mode &= ~bits;
      else mode = (mode & ~mask) | bits;
    }
  }
  return mode;
}

/** Parses `--chmod`; a value that is neither octal nor symbolic is a BuildError at `range`. */
export function parseChmod(spec: string, range: SourceRange, source: string): ChmodFn {
  if (/^[0-9]+$/.test(spec)) {
    const value = /^[0-7]+$/.test(spec) ? parseInt(spec, 8) : NaN;
    if (!(value <= 0o7777)) {
      throw new BuildError(`invalid chmod parameter: '${spec}'. it should be octal string and between 0 and 07777`, range, { source });
    }
    return () => value;
  }
  const clauses = parseSymbolic(spec);
  if (!clauses) {
    throw new BuildError(`invalid chmod parameter: '${spec}'. use an octal mode or a symbolic one like u+x or u=rwX,go=rX`, range, { source });
  }
  return (mode, isDir) => applyClauses(clauses, mode, isDir);
}
