/**
 * A git repository as the build context, as `docker buildx build https://host/repo.git#ref:dir`
 * takes one: the ref resolved to a commit, checked out once per commit into the store (shared with
 * ADD's git sources, src/copy/git.ts), the subdir as the context, `.git` left out unless
 * BUILDKIT_CONTEXT_KEEP_GIT_DIR=1 is given as a build arg (BuildKit's switch). The Dockerfile is
 * read from the context unless -f names another.
 */
import path from 'node:path';
import { lstatSync } from 'node:fs';
import type { ContextFilter } from '../context/walk.ts';
import { checkout, GitError, parseGitSource, resolveCommit } from '../copy/git.ts';
import { BuildError } from '../source/index.ts';
import type { StoreLayout } from '../store/layout.ts';

export interface GitContext { dir: string; commit: string; keepGitDir: boolean }

export async function gitContext(word: string, layout: StoreLayout, keepGitDir: boolean): Promise<GitContext> {
  try {
    const source = parseGitSource(word);
    const commit = await resolveCommit(source);
    const root = await checkout(source, commit, layout.git, layout.tmp);
    const dir = path.join(root, source.subdir);
    if (!lstatSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
      throw new BuildError(`unable to prepare context: ${source.subdir} is not a directory in ${source.remote} at ${commit}`);
    }
    return { dir, commit, keepGitDir };
  } catch (error) {
    if (error instanceof GitError) throw new BuildError(`unable to prepare context: ${error.message}`);
    throw error;
  }
}

/** The context's filter with `.git` left out, as BuildKit sends a git context. */
export function withoutGitDir(filter: ContextFilter): ContextFilter {
  const isGit = (rel: string) => rel === '.git' || rel.startsWith('.git/');
  return { excluded: (rel) => isGit(rel) || filter.excluded(rel), mustDescend: (rel) => !isGit(rel) && filter.mustDescend(rel) };
}
