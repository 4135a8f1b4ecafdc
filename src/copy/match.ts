import path from 'node:path';
import { hasGlobMeta } from '../context/glob.ts';
import { compileIgnore, type IgnoreMatcher } from '../context/dockerignore.ts';
import type { CopyOp } from '../plan/index.ts';
import { BuildError, type SourceRange } from '../source/index.ts';
import { cleanSourcePath, expandSource, WildcardBaseError, type RemoteFile, type SourceEntry, type SourceTree } from './source-tree.ts';

/**
 * COPY/ADD sources to what they name, with BuildKit's rules: a plain path must exist, a wildcard
 * may match nothing, `--parents` copies below a pivot (`/./` in the path, else the root) only what
 * its pattern matches, `--exclude` drops wildcard matches (and, when copying, entries below them)
 * that its patterns match, URLs are what ADD downloaded, git sources are refused for now.
 */
export interface Match {
  /** The source word (after ARG/ENV expansion) the match came from. */
  word: string;
  /** The matched path before symlinks were followed: its last element names the destination. */
  rel: string;
  /** What `rel` resolves to (symlinks followed inside the source's root). */
  entry: SourceEntry;
  /** A file ADD downloaded. */
  remote?: RemoteFile;
  /** `--parents`: only paths below `entry` (the pivot) that these patterns match are copied. */
  include?: string[];
}

export interface MatchContext {
  op: CopyOp;
  tree: SourceTree;
  range: SourceRange;
}

export function isHttpSource(word: string): boolean {
  return /^https?:\/\//i.test(word) && !isGitSource(word);
}

/** Git repositories as BuildKit recognises them in ADD: ssh-style, git://, or an http(s) URL of a `.git`. */
export function isGitSource(word: string): boolean {
  if (/^(git@[^:]+:|git:\/\/|ssh:\/\/)/.test(word)) return true;
  // A local repository by URL, as git itself takes it (tests, mirrors on disk).
  if (/^file:\/\/[^#?]+?\.git(?:[#?].*)?$/i.test(word)) return true;
  const m = /^https?:\/\/[^#?]+?\.git(?:[#?].*)?$/i.exec(word);
  return m !== null;
}

export function isHeredocWord(op: CopyOp, word: string): boolean {
  if (!word.startsWith('<<')) return false;
  const name = word.replace(/^<<-?["']?|["']?$/g, '');
  return op.heredocs.some((h) => h.name === name);
}

function fail(ctx: Pick<MatchContext, 'range'>, message: string): never {
  throw new BuildError(message, ctx.range);
}

function notFound(ctx: MatchContext, word: string): never {
  const where = ctx.op.from.kind === 'context' ? 'the build context (or excluded by .dockerignore)' : ctx.tree.describe;
  fail(ctx, `failed to compute cache key: "/${word.replace(/^\/+/, '')}": not found in ${where}`);
}

/** `--exclude` patterns as one matcher (dockerignore syntax), or undefined without any. */
export function excludeMatcher(ctx: Pick<MatchContext, 'op' | 'range'>): IgnoreMatcher | undefined {
  if (ctx.op.exclude.length === 0) return undefined;
  try {
    return compileIgnore(ctx.op.exclude);
  } catch (error) {
    fail(ctx, `invalid --exclude pattern: ${(error as Error).message}`);
  }
}

/** ADD-only checks on sources and --checksum, as BuildKit's Dockerfile frontend makes them. */
export function checkSourceKinds(ctx: Pick<MatchContext, 'op' | 'range'>): void {
  const { op } = ctx;
  const kind = op.add ? 'ADD' : 'COPY';
  for (const word of op.sources) {
    if (isHeredocWord(op, word)) continue;
    if (isGitSource(word)) {
      if (!op.add) fail(ctx, "source can't be a git ref for COPY");
      if (op.sources.length !== 1) fail(ctx, 'ADD of a git repository takes one source');
      if (op.from.kind !== 'context') fail(ctx, 'ADD --from cannot take a git source');
    }
    if (isHttpSource(word) && !op.add) fail(ctx, "source can't be a URL for COPY");
    if (isHttpSource(word) && op.from.kind !== 'context') fail(ctx, `${kind} --from cannot take a URL source`);
  }
  if (op.checksum !== undefined) {
    if (!op.add) fail(ctx, "checksum can't be specified for COPY");
    if (op.sources.length !== 1) fail(ctx, "checksum can't be specified for multiple sources");
    if (!isHttpSource(op.sources[0]) && !isGitSource(op.sources[0])) fail(ctx, "checksum can't be specified for non-HTTP(S) sources");
  }
}

function resolveOrFail(ctx: MatchContext, word: string, rel: string): SourceEntry {
  const entry = ctx.tree.resolve(rel);
  if (!entry) notFound(ctx, word);
  return entry;
}

/** `--parents`: the pivot (before `/./`, else the root) and the pattern below it. */
function parentsMatches(ctx: MatchContext, word: string): Match[] {
  const cut = word.indexOf('/./');
  const pivotWord = cut < 0 ? '/' : word.slice(0, cut);
  const pattern = cleanSourcePath(cut < 0 ? word : word.slice(cut + 3));
  const pivots = hasGlobMeta(pivotWord) ? expandWord(ctx, pivotWord) : [cleanSourcePath(pivotWord)];
  const out: Match[] = [];
  for (const pivotRel of pivots) {
    const pivot = resolveOrFail(ctx, word, pivotRel);
    // Without wildcards the named path must exist; a pattern may match nothing.
    if (!hasGlobMeta(pattern) && pattern !== '' && !ctx.tree.resolve(pivotRel ? `${pivotRel}/${pattern}` : pattern)) notFound(ctx, word);
    if (pattern === '') out.push({ word, rel: pivotRel, entry: pivot });
    else if (pivot.stat.isDirectory()) out.push({ word, rel: pivotRel, entry: pivot, include: [pattern] });
  }
  return out;
}

function expandWord(ctx: MatchContext, word: string): string[] {
  try {
    return expandSource(ctx.tree, word);
  } catch (error) {
    if (error instanceof WildcardBaseError) notFound(ctx, word);
    throw error;
  }
}

/** The path of a wildcard match below the part of the word before its first wildcard. */
function belowWildcardBase(word: string, rel: string): string {
  const segments = cleanSourcePath(word).split('/');
  const first = segments.findIndex((s) => hasGlobMeta(s));
  return rel.split('/').slice(first).join('/');
}

/** Every source word to its matches, in order; heredocs are left to the caller. */
export function matchSources(ctx: MatchContext): Match[] {
  checkSourceKinds(ctx);
  const exclude = excludeMatcher(ctx);
  const matches: Match[] = [];
  for (const word of ctx.op.sources) {
    if (isHeredocWord(ctx.op, word)) continue;
    if (isHttpSource(word)) {
      const remote = ctx.tree.remote?.get(word);
      if (!remote) fail(ctx, `${word} was not downloaded`);
      matches.push({ word, rel: remote.name, entry: remote.entry, remote });
      continue;
    }
    if (ctx.op.parents) {
      matches.push(...parentsMatches(ctx, word));
      continue;
    }
    if (!hasGlobMeta(cleanSourcePath(word))) {
      const rel = cleanSourcePath(word);
      matches.push({ word, rel, entry: resolveOrFail(ctx, word, rel) });
      continue;
    }
    for (const rel of expandWord(ctx, word)) {
      if (exclude?.matches(belowWildcardBase(word, rel))) continue;
      matches.push({ word, rel, entry: resolveOrFail(ctx, word, rel) });
    }
  }
  return matches;
}

/** Whether `pattern` (a --parents include) could match `dir` or something below it. */
export function mayMatchBelow(pattern: string, dir: string, glob: (p: string, name: string) => boolean): boolean {
  const patternSegments = pattern.split('/');
  const dirSegments = dir.split('/');
  for (let i = 0; i < dirSegments.length; i++) {
    const segment = patternSegments[i];
    if (segment === undefined) return true;
    if (segment.includes('**')) return true;
    let ok = false;
    try {
      ok = glob(segment, dirSegments[i]);
    } catch {
      ok = false;
    }
    if (!ok) return false;
  }
  return true;
}

/** The destination name of a match: the last element of the path as written (before symlinks). */
export function matchName(match: Match): string {
  return match.remote ? match.remote.name : path.posix.basename(match.rel || '/');
}
