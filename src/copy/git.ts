/**
 * Git repositories as sources (`ADD <git url> <dest>`), as BuildKit's git source reads them:
 * `URL#ref:subdir` or the query form `URL?ref=&tag=&branch=&checksum=&subdir=&submodules=`;
 * `--keep-git-dir` keeps `.git`, `--checksum` (or `checksum=`) must be the commit. The ref is
 * resolved to a commit first (`git ls-remote`), and the commit names the checkout kept in the
 * store (one shallow fetch per commit ever), so the step is cached by what the ref points at.
 * File times: the checkout's by default, the commit's with `mtime=commit` or SOURCE_DATE_EPOCH,
 * as BuildKit's `git.mtime`. The system's `git` does the fetching; without it the error says so.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, utimesSync, lstatSync, lutimesSync } from 'node:fs';
import path from 'node:path';
import { execFileText } from '../sys/process.ts';


export interface GitSource {
  remote: string;
  /** Branch, tag, full ref or commit; undefined for the remote's HEAD. */
  ref?: string;
  /** Directory of the repository to take, '' for all of it. */
  subdir: string;
  checksum?: string;
  submodules: boolean;
  mtime?: 'commit' | 'checkout';
}

export class GitError extends Error {}

const QUERY_KEYS = new Set(['ref', 'tag', 'branch', 'checksum', 'subdir', 'submodules', 'keep-git-dir', 'mtime']);

/** Splits a git source word into the remote and what to take of it. */
export function parseGitSource(word: string): GitSource {
  let rest = word;
  let fragment = '';
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    fragment = rest.slice(hash + 1);
    rest = rest.slice(0, hash);
  }
  const source: GitSource = { remote: rest, subdir: '', submodules: true };
  const query = /^(https?|git|ssh|file):\/\//i.test(rest) ? rest.indexOf('?') : -1;
  if (query >= 0) {
    source.remote = rest.slice(0, query);
    for (const [key, value] of new URLSearchParams(rest.slice(query + 1))) {
      if (!QUERY_KEYS.has(key)) throw new GitError(`unexpected query "${key}" in git URL ${word}`);
      if (key === 'ref' || key === 'tag' || key === 'branch') source.ref = key === 'tag' ? `refs/tags/${value}` : key === 'branch' ? `refs/heads/${value}` : value;
      else if (key === 'subdir') source.subdir = value;
      else if (key === 'checksum') source.checksum = value;
      else if (key === 'submodules') source.submodules = value !== 'false';
      else if (key === 'mtime') {
        if (value !== 'commit' && value !== 'checkout') throw new GitError(`invalid mtime "${value}" in git URL ${word} (commit or checkout)`);
        source.mtime = value;
      }
    }
  }
  if (fragment) {
    const colon = fragment.indexOf(':');
    const ref = colon < 0 ? fragment : fragment.slice(0, colon);
    if (ref) source.ref = ref;
    if (colon >= 0) source.subdir = fragment.slice(colon + 1);
  }
  source.subdir = source.subdir.replace(/^\/+|\/+$/g, '');
  if (source.subdir.split('/').includes('..')) throw new GitError(`git subdir ${JSON.stringify(source.subdir)} leaves the repository`);
  return source;
}

/**
 * Network transports only: `ext::` runs a command and `file://`/`fd::` read the builder's own
 * files, and a repository's submodules could name them. A file:// remote itself is allowed only
 * after it was checked to lie inside the build context (src/copy/input.ts).
 */
const NETWORK_PROTOCOLS = 'http:https:git:ssh';

function protocolsFor(remote: string): string {
  return /^file:/i.test(remote) ? 'file' : NETWORK_PROTOCOLS;
}

async function git(args: string[], cwd: string | undefined, signal: AbortSignal | undefined, protocols = NETWORK_PROTOCOLS): Promise<string> {
  try {
    const { stdout } = await execFileText('git', args, {
      cwd, signal, maxBuffer: 16 << 20,
      // Never ask anyone anything: a build has no terminal to answer from.
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true', LC_ALL: 'C', GIT_ALLOW_PROTOCOL: protocols },
    });
    return stdout;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new GitError('git sources need git installed (apt-get install git)');
    const stderr = String((error as { stderr?: string }).stderr ?? '').trim().split('\n').at(-1);
    throw new GitError(`git ${args[0]} failed: ${stderr || (error as Error).message}`);
  }
}

const COMMIT = /^[0-9a-f]{40}$/;

/** The commit `ref` names on the remote (a commit given as the ref is taken as it is). */
export async function resolveCommit(source: GitSource, signal?: AbortSignal): Promise<string> {
  if (source.ref && COMMIT.test(source.ref)) return source.ref;
  const want = source.ref ?? 'HEAD';
  const lines = (await git(['ls-remote', '--', source.remote, want, `${want}^{}`], undefined, signal, protocolsFor(source.remote))).trim().split('\n').filter(Boolean);
  const refs = lines.map((l) => l.split('\t') as [string, string]);
  // An annotated tag's peeled commit, else the exact ref, else a branch or tag of that name.
  const pick = refs.find(([, name]) => name.endsWith('^{}')) ?? refs.find(([, name]) => name === want)
    ?? refs.find(([, name]) => name === `refs/heads/${want}`) ?? refs.find(([, name]) => name === `refs/tags/${want}`) ?? refs[0];
  if (!pick) throw new GitError(`git ref ${want} not found in ${source.remote}`);
  return pick[0];
}

function setTimes(dir: string, time: Date): void {
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    const stat = lstatSync(full);
    if (stat.isDirectory() && name !== '.git') setTimes(full, time);
    if (stat.isSymbolicLink()) lutimesSync(full, time, time);
    else utimesSync(full, time, time);
  }
  utimesSync(dir, time, time);
}

/**
 * The checkout of `commit` in `storeDir` (made once: a shallow fetch into a temp dir renamed into
 * place). `.git` stays in it; the copy leaves it out unless --keep-git-dir.
 */
export async function checkout(source: GitSource, commit: string, storeDir: string, tmpDir: string, signal?: AbortSignal): Promise<string> {
  const mtime = source.mtime ?? 'checkout';
  const name = createHash('sha256').update(JSON.stringify([source.remote, commit, source.submodules, mtime])).digest('hex');
  const final = path.join(storeDir, name);
  if (existsSync(final)) return final;
  const temp = path.join(tmpDir, `git-${process.pid}-${name.slice(0, 12)}`);
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(temp, { recursive: true });
  try {
    await git(['init', '-q'], temp, signal);
    // By name where there is one: not every server lets a client ask for a commit it did not advertise.
    const wanted = source.ref && !COMMIT.test(source.ref) ? source.ref : source.ref ?? 'HEAD';
    await git(['fetch', '-q', '--depth', '1', '--', source.remote, wanted], temp, signal, protocolsFor(source.remote));
    await git(['-c', 'advice.detachedHead=false', 'checkout', '-q', 'FETCH_HEAD'], temp, signal);
    if (source.submodules && existsSync(path.join(temp, '.gitmodules'))) {
      await git(['submodule', 'update', '-q', '--init', '--recursive', '--depth', '1'], temp, signal);
    }
    const actual = (await git(['rev-parse', 'HEAD'], temp, signal)).trim();
    if (actual !== commit) throw new GitError(`git fetched ${actual}, not the commit ${commit} the ref named`);
    if (mtime === 'commit') setTimes(temp, new Date(Number((await git(['log', '-1', '--format=%ct'], temp, signal)).trim()) * 1000));
    mkdirSync(storeDir, { recursive: true });
    if (existsSync(final)) rmSync(temp, { recursive: true, force: true });
    else renameSync(temp, final);
    return final;
  } catch (error) {
    rmSync(temp, { recursive: true, force: true });
    throw error;
  }
}
