import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { ContentStore } from '../content/index.ts';
import type { ContextFilter } from '../context/walk.ts';
import { NO_FILTER } from '../context/walk.ts';
import type { StatCache } from '../context/stat-cache.ts';
import type { CopyOp } from '../plan/index.ts';
import { BuildError, type SourceRange } from '../source/index.ts';
import { hashKey } from './cache-key.ts';
import { digestSources } from './context-digest.ts';
import { checkSourceKinds, isHeredocWord, isHttpSource, matchSources } from './copy-match.ts';
import { downloadUrl, RemoteError } from './remote.ts';
import { contextTree, type RemoteFile, type SourceTree } from './source-tree.ts';

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
  range: SourceRange;
  source: string;
  signal?: AbortSignal;
}

async function downloads(req: ContextCopyRequest): Promise<Map<string, RemoteFile>> {
  const out = new Map<string, RemoteFile>();
  if (!req.op.add) return out;
  for (const word of req.op.sources) {
    if (!isHttpSource(word) || out.has(word)) continue;
    try {
      out.set(word, await downloadUrl(word, { content: req.content, checksum: req.op.checksum, signal: req.signal }));
    } catch (error) {
      if (error instanceof RemoteError) throw new BuildError(error.message, req.range, { source: req.source });
      throw error;
    }
  }
  return out;
}

export async function contextCopyInput(req: ContextCopyRequest): Promise<{ tree: SourceTree; digest: string }> {
  const { op } = req;
  let tree: SourceTree;
  if (req.contextDir) {
    tree = contextTree(req.contextDir, req.contextFilter ?? NO_FILTER);
  } else {
    // No context (Dockerfile from stdin): only heredocs and URLs can be sources.
    if (!op.sources.every((s) => isHeredocWord(op, s) || (op.add && isHttpSource(s)))) {
      throw new BuildError('this build has no context (Dockerfile from stdin): COPY and ADD cannot read files', req.range, { source: req.source });
    }
    const empty = path.join(req.tmpDir, 'empty-context');
    mkdirSync(empty, { recursive: true });
    tree = contextTree(empty, { excluded: () => true, mustDescend: () => false });
  }
  // The words are checked (COPY of a URL, git sources, --checksum) before anything is downloaded.
  checkSourceKinds({ op, tree, range: req.range, source: req.source });
  const remote = await downloads(req);
  tree = { ...tree, remote };
  const matches = matchSources({ op, tree, range: req.range, source: req.source });
  const digest = req.contextDir ? await digestSources(tree, matches, req.statCache) : hashKey(['no-context', [...remote.values()].map((r) => r.digest)]);
  return { tree, digest };
}
