import { readlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { BuildError, type SourceRange } from '../source/index.ts';
import type { CopyOp } from '../plan/index.ts';
import { lookup, resolveInRoot, type MergedView } from '../fsview/merged.ts';
import { ensureDir, finishDir, writeEntry, type Owner } from '../fsview/upper.ts';
import { expandSource, type SourceEntry, type SourceTree } from './source-tree.ts';

export interface CopyContext {
  op: CopyOp;
  tree: SourceTree;
  /** Destination: the step's upper dir on top of the parent's layers. */
  view: MergedView;
  owner?: Owner;
  /** Turns a source mode into the destination mode (for --chmod); identity without it. */
  chmod?: (mode: number, isDir: boolean) => number;
  range: SourceRange;
  source: string;
}

/** A matched source: the word it came from and what it resolved to. */
interface Match { word: string; rel: string; entry: SourceEntry }

function fail(ctx: CopyContext, message: string): never {
  throw new BuildError(message, ctx.range, { source: ctx.source });
}

/** Every source word to its matches; a word that matches nothing is an error, as in BuildKit. */
export function matchSources(ctx: Pick<CopyContext, 'op' | 'tree' | 'range' | 'source'>): Match[] {
  const matches: Match[] = [];
  for (const word of ctx.op.sources) {
    if (ctx.op.heredocs.some((h) => word.replace(/^<<-?["']?|["']?$/g, '') === h.name && word.startsWith('<<'))) continue;
    const rels = expandSource(ctx.tree, word);
    const found = rels.flatMap((rel) => {
      const entry = ctx.tree.resolve(rel);
      return entry ? [{ word, rel, entry }] : [];
    });
    if (found.length === 0) {
      const where = ctx.op.from.kind === 'context' ? 'the build context (or excluded by .dockerignore)' : ctx.tree.describe;
      throw new BuildError(`failed to compute cache key: "/${word.replace(/^\/+/, '')}": not found in ${where}`, ctx.range, { source: ctx.source });
    }
    matches.push(...found);
  }
  return matches;
}

function metaFor(ctx: CopyContext, stat: Stats): { uid: number; gid: number; mode: number } {
  const mode = stat.mode & 0o7777;
  return {
    uid: ctx.owner?.uid ?? 0,
    gid: ctx.owner?.gid ?? 0,
    mode: ctx.chmod ? ctx.chmod(mode, stat.isDirectory()) : mode,
  };
}

function copyTree(ctx: CopyContext, match: Match, targetRel: string): void {
  const entries = ctx.tree.walk(match.entry);
  const dirs: Array<{ rel: string; stat: Stats }> = [];
  // The destination directory itself is made like `mkdir -p` (0755, the --chown owner), never
  // given the source directory's mode: BuildKit copies a directory's contents, not the directory.
  ensureDir(ctx.view, targetRel, ctx.owner ?? { uid: 0, gid: 0 });
  for (const entry of entries) {
    const sub = path.posix.relative(match.entry.rel, entry.rel);
    if (sub === '') continue;
    const rel = targetRel ? `${targetRel}/${sub}` : sub;
    const linkTarget = entry.stat.isSymbolicLink() ? readlinkSync(entry.hostPath) : undefined;
    writeEntry(ctx.view, rel, { hostPath: entry.hostPath, stat: entry.stat, linkTarget }, metaFor(ctx, entry.stat));
    if (entry.stat.isDirectory()) dirs.push({ rel, stat: entry.stat });
  }
  for (const dir of dirs.reverse()) finishDir(ctx.view, dir.rel, dir.stat);
}

/** Runs one COPY/ADD of files into the step's upper dir with Docker's destination rules. */
export function executeCopy(ctx: CopyContext, matches: Match[]): void {
  const { op } = ctx;
  const count = matches.length + op.heredocs.length;
  const destWord = op.dest;
  const destClean = path.posix.normalize(destWord).replace(/^\/+/, '').replace(/\/+$/, '');
  const destRel = destClean === '.' ? '' : resolveInRoot(ctx.view, destClean, true);
  const existing = destRel === '' ? undefined : lookup(ctx.view, destRel);
  const destIsDir = destWord.endsWith('/') || destRel === '' || existing?.stat.isDirectory() === true;
  if (count > 1 && !destWord.endsWith('/')) {
    fail(ctx, `When using ${op.add ? 'ADD' : 'COPY'} with more than one source file, the destination must be a directory and end with a /`);
  }
  const parentOwner = ctx.owner ?? { uid: 0, gid: 0 };
  for (const match of matches) {
    if (match.entry.stat.isDirectory()) {
      copyTree(ctx, match, destRel);
      continue;
    }
    const target = destIsDir ? (destRel ? `${destRel}/${path.posix.basename(match.rel)}` : path.posix.basename(match.rel)) : destRel;
    const parent = path.posix.dirname(target);
    ensureDir(ctx.view, parent === '.' ? '' : parent, parentOwner);
    const linkTarget = match.entry.stat.isSymbolicLink() ? readlinkSync(match.entry.hostPath) : undefined;
    writeEntry(ctx.view, target, { hostPath: match.entry.hostPath, stat: match.entry.stat, linkTarget }, metaFor(ctx, match.entry.stat));
  }
}

/** `--chmod=755` (octal) or a symbolic mode such as `u+x,g-w` or `a=rX`. */
export function parseChmod(spec: string, range: SourceRange, source: string): (mode: number, isDir: boolean) => number {
  if (/^[0-7]{1,4}$/.test(spec)) {
    const value = parseInt(spec, 8);
    return () => value;
  }
  const clauses = spec.split(',');
  const parsed = clauses.map((clause) => {
    const m = /^([ugoa]*)([-+=])([rwxXst]*)$/.exec(clause);
    if (!m) throw new BuildError(`invalid chmod parameter "${spec}": use an octal mode or a symbolic one like u+x`, range, { source });
    return { who: m[1] || 'a', op: m[2], perms: m[3] };
  });
  return (mode, isDir) => {
    let result = mode & 0o7777;
    for (const { who, op, perms } of parsed) {
      let bits = 0;
      const any = (w: string): boolean => who.includes(w) || who.includes('a');
      const anyExec = isDir || (mode & 0o111) !== 0;
      for (const p of perms) {
        const r = p === 'r' ? 4 : p === 'w' ? 2 : p === 'x' || (p === 'X' && anyExec) ? 1 : 0;
        if (r) {
          if (any('u')) bits |= r << 6;
          if (any('g')) bits |= r << 3;
          if (any('o')) bits |= r;
        }
        if (p === 's') {
          if (any('u')) bits |= 0o4000;
          if (any('g')) bits |= 0o2000;
        }
        if (p === 't') bits |= 0o1000;
      }
      const mask = (any('u') ? 0o4700 : 0) | (any('g') ? 0o2070 : 0) | (any('o') ? 0o1007 : 0);
      if (op === '+') result |= bits;
      else if (op === '-') result &= ~bits;
      else result = (result & ~mask) | bits;
    }
    return result;
  };
}
