import { lstatSync, mkdirSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { blobPath, hasBlob, writeBlob, type ContentStore } from '../content/index.ts';
import type { ContextFilter } from '../context/walk.ts';
import { NO_FILTER } from '../context/walk.ts';
import type { StatCache } from '../context/stat-cache.ts';
import type { CopyOp } from '../plan/index.ts';
import { BuildError, type SourceRange } from '../source/index.ts';
import { hashKey } from '../cache/key.ts';
import { digestSources } from './digest.ts';
import { checkSourceKinds, isGitSource, isHeredocWord, isHttpSource, matchSources, type Match } from './match.ts';
import { contextTree, type RemoteFile, type SourceTree } from './source-tree.ts';
import { readUrlRecord, revalidationHeaders, saveUrlRecord } from './url-cache.ts';
import { checkout, GitError, parseGitSource, resolveCommit } from './git.ts';

/**
 * ADD <url>: the file is downloaded into the content store (so its digest is its name and the
 * cache key of the step), checked against `--checksum=sha256:<hex>` when given, and named after
 * the URL path's last element (`__unnamed__` when there is none, as BuildKit). With a checksum whose
 * content is already stored, nothing is fetched. A server's Last-Modified becomes the file's mtime.
 */
export class RemoteError extends Error {}

const CHECKSUM = /^sha256:[0-9a-f]{64}$/;

/** The destination file name BuildKit derives from a URL. */
export function urlFileName(url: string): string {
  let pathname: string;
  try {
    pathname = decodeURIComponent(new URL(url).pathname);
  } catch {
    return '__unnamed__';
  }
  const base = path.posix.basename(path.posix.normalize(pathname || '/'));
  return base === '' || base === '.' || base === '/' ? '__unnamed__' : base;
}

function remoteFile(content: ContentStore, url: string, digest: string, mtime: Date | undefined): RemoteFile {
  const hostPath = blobPath(content, digest);
  const name = urlFileName(url);
  return { url, digest, name, mtime, entry: { rel: name, hostPath, stat: lstatSync(hostPath) } };
}

export interface DownloadOptions {
  content: ContentStore;
  /** `sha256:<hex>` the content must have. */
  checksum?: string;
  /** Where earlier downloads' validators are kept (src/copy/url-cache.ts). */
  urlCache?: string;
  signal?: AbortSignal;
}

export async function downloadUrl(url: string, options: DownloadOptions): Promise<RemoteFile> {
  const { content, checksum } = options;
  if (checksum !== undefined && !CHECKSUM.test(checksum)) {
    throw new RemoteError(`invalid checksum ${JSON.stringify(checksum)}: expected sha256:<64 hex digits>`);
  }
  if (checksum !== undefined && (await hasBlob(content, checksum))) return remoteFile(content, url, checksum, undefined);
  const known = options.urlCache === undefined ? undefined : readUrlRecord(options.urlCache, url);
  const usable = known && (await hasBlob(content, known.digest)) ? known : undefined;
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'follow', signal: options.signal, headers: revalidationHeaders(usable) });
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message;
    throw new RemoteError(`failed to download ${url}: ${cause ?? (error as Error).message}`);
  }
  if (response.status === 304 && usable) {
    await response.body?.cancel().catch(() => undefined);
    return remoteFile(content, url, usable.digest, lastModifiedOf(usable.lastModified ?? null));
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel().catch(() => undefined);
    throw new RemoteError(`failed to download ${url}: invalid response status ${response.status}`);
  }
  let digest: string;
  try {
    digest = (await writeBlob(content, response.body as AsyncIterable<Uint8Array>)).digest;
  } catch (error) {
    throw new RemoteError(`failed to download ${url}: ${(error as Error).message}`);
  }
  if (checksum !== undefined && digest !== checksum) {
    throw new RemoteError(`digest mismatch for ${url}: expected ${checksum}, got ${digest}`);
  }
  const lastModified = response.headers.get('last-modified') ?? undefined;
  if (options.urlCache !== undefined) {
    await saveUrlRecord(options.urlCache, { url, digest, etag: response.headers.get('etag') ?? undefined, lastModified });
  }
  return remoteFile(content, url, digest, lastModifiedOf(lastModified ?? null));
}

function lastModifiedOf(header: string | null): Date | undefined {
  const time = header ? new Date(header) : undefined;
  return time && !Number.isNaN(time.getTime()) ? time : undefined;
}

/**
 * What a COPY/ADD that reads the build context (or URLs) reads, and the digest of it for the cache
 * key: ADD's URLs are downloaded first (their content digest is what counts), then every source is
 * matched in the context and the matched files hashed.
 */
export interface ContextCopyRequest {
  op: CopyOp;
  contextDir?: string;
  contextFilter?: ContextFilter;
  statCache?: StatCache;
  content: ContentStore;
  /** A scratch directory of the store, standing in for a missing context. */
  tmpDir: string;
  /** Validators of earlier downloads, for conditional requests. */
  urlCache?: string;
  /** Where git checkouts are kept (src/copy/git.ts). */
  gitDir?: string;
  /** SOURCE_DATE_EPOCH is set: git files get their commit's time, as BuildKit gives them. */
  epochSet?: boolean;
  range: SourceRange;
  signal?: AbortSignal;
}

async function downloads(req: ContextCopyRequest): Promise<Map<string, RemoteFile>> {
  const out = new Map<string, RemoteFile>();
  if (!req.op.add) return out;
  for (const word of req.op.sources) {
    if (!isHttpSource(word) || out.has(word)) continue;
    try {
      out.set(word, await downloadUrl(word, { content: req.content, checksum: req.op.checksum, urlCache: req.urlCache, signal: req.signal }));
    } catch (error) {
      if (error instanceof RemoteError) throw new BuildError(error.message, req.range);
      throw error;
    }
  }
  return out;
}

/**
 * A file:// repository must lie inside the build context, whose files the build may read anyway:
 * anywhere else it would hand someone else's Dockerfile the builder's own repositories.
 */
function checkLocalRemote(remote: string, contextDir: string | undefined, fail: (message: string) => never): void {
  let target: string;
  try {
    target = realpathSync(fileURLToPath(remote));
  } catch {
    return fail(`file:// git sources must be inside the build context: ${remote} does not exist`);
  }
  const root = contextDir ? realpathSync(contextDir) : undefined;
  if (!root || (target !== root && !target.startsWith(`${root}/`))) fail(`file:// git sources must be inside the build context (${remote} is not)`);
}

/**
 * ADD of a git repository: the ref resolved to a commit, its checkout (made once per commit), and
 * the repository (or its subdir) as the tree to copy from, `.git` only with --keep-git-dir. The
 * digest names the commit and what is taken of it, so the step is cached by the commit.
 */
async function gitCopyInput(req: ContextCopyRequest): Promise<{ tree: SourceTree; digest: string; matches: Match[]; op: CopyOp }> {
  const { op } = req;
  const fail = (message: string): never => { throw new BuildError(message, req.range); };
  try {
    const source = parseGitSource(op.sources[0]);
    if (/^file:/i.test(source.remote)) checkLocalRemote(source.remote, req.contextDir, fail);
    if (req.epochSet && !source.mtime) source.mtime = 'commit';
    const checksum = op.checksum ?? source.checksum;
    const commit = await resolveCommit(source, req.signal);
    if (checksum !== undefined && !(/^[0-9a-f]{7,40}$/.test(checksum) && commit.startsWith(checksum))) {
      fail(`expected checksum to match ${checksum}, got ${commit}`);
    }
    const dir = await checkout(source, commit, req.gitDir ?? path.join(req.tmpDir, 'git'), req.tmpDir, req.signal);
    const root = path.join(dir, source.subdir);
    if (!lstatSync(root, { throwIfNoEntry: false })?.isDirectory()) fail(`${source.subdir} is not a directory in ${source.remote} at ${commit}`);
    const withoutGit = { excluded: (rel: string) => rel === '.git' || rel.startsWith('.git/'), mustDescend: () => false };
    const tree = contextTree(root, op.keepGitDir ? NO_FILTER : withoutGit);
    const copyOp: CopyOp = { ...op, sources: ['/'], checksum: undefined };
    const matches = matchSources({ op: copyOp, tree, range: req.range });
    return { tree, matches, op: copyOp, digest: hashKey(['git', source.remote, commit, source.subdir, op.keepGitDir, source.submodules, source.mtime ?? 'checkout']) };
  } catch (error) {
    if (error instanceof GitError) fail(error.message);
    throw error;
  }
}

export async function contextCopyInput(req: ContextCopyRequest): Promise<{ tree: SourceTree; digest: string; matches: Match[]; op?: CopyOp }> {
  const { op } = req;
  if (op.add && op.sources.length === 1 && isGitSource(op.sources[0])) {
    checkSourceKinds({ op, range: req.range });
    return gitCopyInput(req);
  }
  let tree: SourceTree;
  if (req.contextDir) {
    tree = contextTree(req.contextDir, req.contextFilter ?? NO_FILTER);
  } else {
    // No context (Dockerfile from stdin): only heredocs and URLs can be sources.
    if (!op.sources.every((s) => isHeredocWord(op, s) || (op.add && isHttpSource(s)))) {
      throw new BuildError('this build has no context (Dockerfile from stdin): COPY and ADD cannot read files', req.range);
    }
    const empty = path.join(req.tmpDir, 'empty-context');
    mkdirSync(empty, { recursive: true });
    tree = contextTree(empty, { excluded: () => true, mustDescend: () => false });
  }
  // The words are checked (COPY of a URL, git sources, --checksum) before anything is downloaded.
  checkSourceKinds({ op, range: req.range });
  const remote = await downloads(req);
  tree = { ...tree, remote };
  const matches = matchSources({ op, tree, range: req.range });
  const digest = req.contextDir ? await digestSources(tree, matches, req.statCache) : hashKey(['no-context', [...remote.values()].map((r) => r.digest)]);
  return { tree, digest, matches };
}
