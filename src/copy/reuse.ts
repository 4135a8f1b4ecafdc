import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, type Stats } from 'node:fs';
import path from 'node:path';
import { WalkStats } from '../context/stats.ts';
import { blobPath, type ContentStore } from '../content/index.ts';
import type { LayerSplice } from '../layer/splice.ts';
import type { CopyOp } from '../plan/index.ts';
import type { StoreLayout } from '../store/layout.ts';
import { CACHE_KEY_VERSION, hashKey } from '../cache/key.ts';
import { snapshotDirOf } from '../snapshot/snapshots.ts';
import { claimSnapshot } from '../snapshot/leases.ts';
import type { SourceChild, SourceTree } from './source-tree.ts';
import { fsExtra } from '../sys/fsx.ts';

/**
 * Rebuilding a COPY after a small change to the context. A plain rebuild copies every file
 * again, and creating tens of thousands of files is what such a rebuild spends its time on. But
 * the previous result of the same step (same parent file system, same instruction) usually holds
 * almost all of them already: the step's snapshot is claimed as a donor (src/snapshot/leases.ts) and each file whose source is provably unchanged is moved from it into the new layer
 * instead of copied. Everything else (directories, metadata, order, conflicts) goes through the
 * ordinary copy, so the result is the one a fresh copy gives.
 *
 * "Provably unchanged": the donor's manifest records, for each file it holds, the stat data of the
 * context file it was copied from (device, inode, size, mode, owner, mtime and ctime in ns).
 * Writing, chmod, chown, setting an xattr or replacing a file all move ctime, so equal stat data
 * means equal content, mode, owner, times and capabilities. Like the stat cache, an entry whose
 * ctime was too close to the copy is not recorded (it could still have changed within the same
 * timestamp tick). Hard-linked sources are never moved: their links are the copy's business.
 */
export interface CopyReuse {
  /** The claimed donor: a former snapshot of this step, now the build's own to take files from. */
  donor?: {
    dir: string;
    files: ReadonlyMap<string, string>;
    /** The donor's layer blob (host path) and where each file's member is in it, when it is still stored. */
    blob?: string;
    members: ReadonlyMap<string, readonly [number, number]>;
  };
  /** Target path -> source stat signature of every file this copy wrote that a later one may take. */
  written: Map<string, string>;
  /** Targets that are the donor's files, moved and untouched: their layer members can be spliced. */
  moved: Set<string>;
  /** Only sources whose ctime is older than this (ms) by the racy window are recorded. */
  safeBeforeMs: number;
}

interface LineageRecord {
  version: number;
  chainId: string;
  /**
   * The snapshot dir as this copy committed it: a dir put there since (unpacked again from the
   * blob, with whole-second times and no user xattrs) is not the copy's result.
   */
  dir: DirIdentity;
  files: Record<string, string>;
  /** The layer blob made from that snapshot and each file's member in it: [offset, length]. */
  blob?: string;
  members?: Record<string, [number, number]>;
}

const VERSION = 4;
const RACY_WINDOW_MS = 2000;

function lineageDir(layout: StoreLayout): string {
  return layout.lineage;
}

/** Which COPYs take part: from the context, without ADD's archives and URLs or heredoc files. */
export function reusableCopy(op: CopyOp): boolean {
  return op.from.kind === 'context' && !op.add && op.heredocs.length === 0;
}

/**
 * Names one step independently of what it reads: its parent file system, its instruction and the
 * context directory it copies from (two projects with the same COPY would otherwise keep taking
 * each other's snapshots, matching nothing).
 */
export function lineageKey(parentChainId: string, op: CopyOp, contextDir: string): string {
  return hashKey([CACHE_KEY_VERSION, 'copy-lineage', parentChainId, { ...op }, path.resolve(contextDir)]).replace(/^sha256:/, '');
}

function readLineage(layout: StoreLayout, key: string): LineageRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(path.join(lineageDir(layout), `${key}.json`), 'utf8')) as LineageRecord;
    return record.version === VERSION && typeof record.chainId === 'string' ? record : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts a reusing copy: claims the step's previous snapshot (if it exists and nobody uses it)
 * into `tempDir/donor`. Without a donor (or with `claim` false: --no-cache copies everything
 * afresh) the copy still records its manifest for the next build.
 */
export function startCopyReuse(
  layout: StoreLayout, content: ContentStore, key: string, tempDir: string, options: { safeBeforeMs: number; claim: boolean },
): CopyReuse {
  const reuse: CopyReuse = { written: new Map(), moved: new Set(), safeBeforeMs: options.safeBeforeMs };
  const record = options.claim ? readLineage(layout, key) : undefined;
  if (!record) return reuse;
  const dir = path.join(tempDir, 'donor');
  const snapshot = snapshotDirOf(layout, record.chainId);
  if (!unchangedDir(dirIdentity(snapshot), record.dir)) return reuse;
  let claimed = false;
  try {
    // Claimed, it is checked again (the rename moved its ctime, not its inode): it may have been
    // replaced between the look and the claim.
    claimed = claimSnapshot(layout, record.chainId, snapshot, dir) && sameDir(dirIdentity(dir), record.dir);
  } catch {
    // Only a speed-up: whatever stops the claim (a full disk for the lock file, say), copy afresh.
  }
  if (claimed) {
    const blob = record.blob && record.members ? blobPath(content, record.blob) : undefined;
    reuse.donor = {
      dir, files: new Map(Object.entries(record.files)),
      blob: blob && existsSync(blob) ? blob : undefined,
      members: new Map(Object.entries(record.members ?? {})),
    };
  }
  return reuse;
}

/** Which directory a path is (device and inode) and its state (ctime, ns); decimal strings for JSON. */
export interface DirIdentity { dev: string; ino: string; ctimeNs: string }

/** The identity of the directory at `dir`, or undefined when there is none. */
export function dirIdentity(dir: string): DirIdentity | undefined {
  try {
    const s = lstatSync(dir, { bigint: true });
    return s.isDirectory() ? { dev: `${s.dev}`, ino: `${s.ino}`, ctimeNs: `${s.ctimeNs}` } : undefined;
  } catch {
    return undefined;
  }
}

/** The same directory, whatever was done to it since (a rename moves its ctime, not its inode). */
export function sameDir(a: DirIdentity | undefined, b: DirIdentity | undefined): boolean {
  return a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;
}

/** The same directory, untouched since. */
export function unchangedDir(a: DirIdentity | undefined, b: DirIdentity | undefined): boolean {
  return sameDir(a, b) && a!.ctimeNs === b!.ctimeNs;
}

/** What the new layer can copy from the donor's blob: the members of the files moved untouched. */
export function layerSplice(reuse: CopyReuse): LayerSplice | undefined {
  const donor = reuse.donor;
  if (!donor?.blob || reuse.moved.size === 0) return undefined;
  return { blob: donor.blob, members: donor.members, same: reuse.moved };
}

/** Notes whether the file now at `target` is the donor's, moved untouched. */
export function noteWrite(reuse: CopyReuse | undefined, target: string, moved: boolean): void {
  if (!reuse) return;
  if (moved) reuse.moved.add(target);
  else reuse.moved.delete(target);
}

/**
 * The stat signature of a source file that may be recorded or matched, or undefined when it may
 * not: not a regular file, hard-linked, without nanosecond stat data, or changed too recently.
 */
export function sourceSignature(reuse: CopyReuse, stat: Stats): string | undefined {
  if (!(stat instanceof WalkStats) || !stat.isFile() || stat.nlink !== 1) return undefined;
  if (stat.ctimeMs + RACY_WINDOW_MS >= reuse.safeBeforeMs) return undefined;
  return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mode}:${stat.uid}:${stat.gid}:${stat.mtimeSec}.${stat.mtimeNsec}:${stat.ctimeSec}.${stat.ctimeNsec}`;
}

/** Notes a file written at `target` and returns the donor's copy of it when that one is identical. */
export function reusableFile(reuse: CopyReuse, target: string, stat: Stats): string | undefined {
  const signature = sourceSignature(reuse, stat);
  if (signature === undefined) {
    reuse.written.delete(target);
    return undefined;
  }
  reuse.written.set(target, signature);
  return reuse.donor?.files.get(target) === signature ? path.join(reuse.donor.dir, target) : undefined;
}

/** A donor directory that can be taken whole: every file below it is unchanged, nothing extra. */
export interface ReusableTree {
  /** Subdirectories (the root included, parents after their children) with their sources. */
  dirs: Array<{ src: SourceChild; target: string }>;
  /** Files below it: target -> source signature. */
  files: Map<string, string>;
}

/**
 * Checks whether the donor's directory at `target` holds exactly what copying `src` there would
 * write as files: the same names, every file matched by signature, every subdirectory likewise,
 * and no extended attributes on the directories (whatever the source's are is set afresh, as are
 * the directories' owner, mode and times). Anything else (symlinks, devices, filtered entries)
 * leaves it to the file-by-file copy.
 */
export function reusableTree(reuse: CopyReuse, tree: SourceTree, src: SourceChild, target: string): ReusableTree | undefined {
  const donor = reuse.donor;
  if (!donor) return undefined;
  const out: ReusableTree = { dirs: [], files: new Map() };
  const visit = (dir: SourceChild, at: string): boolean => {
    const host = path.join(donor.dir, at);
    // Types come from lstat and readdir, never through a symlink: a donor symlink where the
    // source now has a directory must not pass for one (it would lead writes off the store).
    const types = new Map<string, 'dir' | 'file' | 'other'>();
    try {
      if (!lstatSync(host).isDirectory() || fsExtra().llistxattr(host).length) return false;
      for (const dirent of readdirSync(host, { withFileTypes: true })) {
        types.set(dirent.name, dirent.isDirectory() ? 'dir' : dirent.isFile() ? 'file' : 'other');
      }
    } catch {
      return false;
    }
    const children = tree.children(dir);
    if (children.length !== types.size) return false;
    for (const child of children) {
      const name = path.posix.basename(child.rel);
      const childTarget = `${at}/${name}`;
      if (child.pending) return false;
      if (child.stat.isDirectory()) {
        if (types.get(name) !== 'dir' || !visit(child, childTarget)) return false;
        continue;
      }
      if (types.get(name) !== 'file') return false;
      const signature = sourceSignature(reuse, child.stat);
      if (signature === undefined || donor.files.get(childTarget) !== signature) return false;
      out.files.set(childTarget, signature);
    }
    out.dirs.push({ src: dir, target: at });
    return true;
  };
  return visit(src, target) ? out : undefined;
}

/** Forgets a target that something other than a recorded file copy wrote. */
export function forgetTarget(reuse: CopyReuse | undefined, target: string): void {
  reuse?.written.delete(target);
}

/**
 * Remembers what the step's new snapshot holds, for its next rebuild. Written to a temp name and
 * renamed, without fsync: it is only a hint, read back only while its snapshot exists (snapshots
 * do not survive a reboot), and a torn file fails to parse and is ignored.
 */
export function saveLineage(
  layout: StoreLayout, key: string, layer: { chainId: string; blobDigest: string }, reuse: CopyReuse, members: ReadonlyMap<string, [number, number]>,
  snapshotIdentity: DirIdentity,
): void {
  const dir = lineageDir(layout);
  const record: LineageRecord = {
    version: VERSION, chainId: layer.chainId, dir: snapshotIdentity, files: Object.fromEntries(reuse.written),
    blob: layer.blobDigest, members: Object.fromEntries(members),
  };
  const file = path.join(dir, `${key}.json`);
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(temp, JSON.stringify(record));
    renameSync(temp, file);
  } catch {
    // A hint the next rebuild can do without: a failure to write it must not fail this build.
    rmSync(temp, { force: true });
  }
}

/** Drops lineage records whose snapshot is gone (prune; the store is exclusively locked). */
export function pruneLineage(layout: StoreLayout, liveSnapshots: ReadonlySet<string>): void {
  const dir = lineageDir(layout);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const key = name.replace(/\.json$/, '');
    const record = name.endsWith('.json') ? readLineage(layout, key) : undefined;
    if (!record || !liveSnapshots.has(record.chainId.replace(/^sha256:/, ''))) rmSync(path.join(dir, name), { force: true });
  }
}
