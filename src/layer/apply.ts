import {
  chmodSync, closeSync, constants as fsConstants, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync,
  realpathSync, rmSync, symlinkSync, unlinkSync, writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createDigester, type Digest } from '../content/digest.ts';
import { openDecompressed, type Compression } from './compression.ts';
import { baseRel, classifyMember, createDirResolver, hardlinkTarget, LayerMemberError, parentRel, type DirResolver } from './scope.ts';
import { S_IFBLK, S_IFCHR, S_IFIFO, fsExtra, lstatOrUndefined, type FsExtra } from '../sys/fsx.ts';
import type { TarHeader } from './tar-format.ts';
import { readTar } from './tar-io.ts';
import { isOverlayXattr, overlayXattr } from './overlay-format.ts';
import { userNamespace } from '../sys/userns.ts';

/**
 * Layer tar → directory. `overlay` mode writes an overlay upper directory (a snapshot for the
 * overlay stack): whiteouts become char 0:0 devices and opaque markers set
 * `trusted.overlay.opaque=y`. `plain` mode applies the layer on top of what `destDir` holds
 * (flattening): whiteouts delete, opaque markers empty the directory of older entries.
 *
 * Whatever the tar says, nothing outside `destDir` is created, removed or changed: names are
 * judged by classifyMember (src/layer/scope.ts), parents resolved inside the root, symlinks of the
 * destination followed as a container would (`/` and `..` stop at the root), symlinks of this
 * layer never traversed. A refused member is a LayerMemberError naming it and the layer.
 *
 * On failure `destDir` is left partly written; callers extract into a fresh snapshot and drop it.
 */
export type ApplyMode = 'overlay' | 'plain';

export interface ApplyOptions {
  mode: ApplyMode;
  /** Set owners from the tar (default: when running as root). */
  chown?: boolean;
  /** What errors call the layer (its digest, say). */
  layer?: string;
}

export interface ApplyResult {
  compression: Compression;
  /** sha256 of the uncompressed tar: the layer's diff_id, for checking against a config. */
  diffId: Digest;
  /** Uncompressed size in bytes. */
  size: number;
  entries: number;
}


interface Extraction {
  mode: ApplyMode;
  chown: boolean;
  dirs: DirResolver;
  /** Real paths of the symlinks this layer made: members never pass through them. */
  ownLinks: Set<string>;
  sys: FsExtra;
  /** Root-relative paths this layer wrote, with all their ancestors (opaque markers keep them). */
  written: Set<string>;
  /** Directory times are set last: creating children changes them. */
  dirTimes: Array<{ path: string; mtime: number }>;
}

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

function markWritten(x: Extraction, rel: string): void {
  for (let at = rel; at !== '' && !x.written.has(at); at = parentRel(at)) x.written.add(at);
}

function setOwnerAndXattrs(x: Extraction, path: string, header: TarHeader): void {
  if (x.chown) lchownSync(path, header.uid, header.gid);
  // chown clears setuid/setgid, so the mode goes on after it (symlinks have no mode of their own).
  if (header.type !== 'symlink') chmodSync(path, header.mode & 0o7777);
  for (const [name, value] of Object.entries(header.xattrs ?? {})) {
    // A layer must not forge overlay metadata (redirects, opaque flags) in our snapshots.
    if (isOverlayXattr(name)) continue;
    try {
      x.sys.lsetxattr(path, name, value);
    } catch (error) {
      // Docker ignores xattrs the file system or our privileges cannot hold, and so do we.
      if (errnoOf(error) !== 'ENOTSUP' && errnoOf(error) !== 'EOPNOTSUPP' && errnoOf(error) !== 'EPERM') throw error;
    }
  }
}

/**
 * Writes a new file (never through a symlink, never over an existing one) from a tar body. Plain
 * synchronous writes: a layer is mostly small files, and a thread-pool round trip per call cost
 * more than the call (as in diff.ts).
 */
export async function writeNewFile(path: string, body: AsyncIterable<Buffer>): Promise<void> {
  const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW;
  const fd = openSync(path, flags, 0o600);
  try {
    for await (const chunk of body) {
      let offset = 0;
      while (offset < chunk.length) offset += writeSync(fd, chunk, offset, chunk.length - offset);
    }
  } finally {
    closeSync(fd);
  }
}

/** Removes whatever is at `path` so an entry can take its place (a directory stays for a directory). */
function clearFor(x: Extraction, path: string, header: TarHeader): boolean {
  const existing = lstatOrUndefined(path);
  if (!existing) return false;
  if (header.type === 'directory' && existing.isDirectory()) return true;
  if (existing.isDirectory()) rmSync(path, { recursive: true, force: true });
  else unlinkSync(path);
  if (existing.isDirectory() || existing.isSymbolicLink()) x.dirs.invalidate();
  return false;
}

async function extractEntry(x: Extraction, rel: string, header: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
  const parent = x.dirs.resolve(parentRel(rel), true)!;
  const path = join(parent, baseRel(rel));
  const keptDir = clearFor(x, path, header);
  const seconds = header.mtime;
  switch (header.type) {
    case 'directory':
      if (!keptDir) mkdirSync(path);
      setOwnerAndXattrs(x, path, header);
      x.dirTimes.push({ path, mtime: seconds });
      return;
    case 'file':
      await writeNewFile(path, body);
      break;
    case 'symlink':
      symlinkSync(header.linkname ?? '', path);
      x.ownLinks.add(path);
      x.dirs.invalidate();
      break;
    case 'link': {
      const targetRel = hardlinkTarget(header.name, header.linkname ?? '');
      const targetParent = x.dirs.resolve(parentRel(targetRel), false);
      const target = targetParent === undefined ? undefined : join(targetParent, baseRel(targetRel));
      const stat = target === undefined ? undefined : lstatOrUndefined(target);
      if (!target || !stat || stat.isDirectory()) {
        throw new LayerMemberError(header.name, `is a hard link to ${JSON.stringify(header.linkname)}, which is not a file in this layer`);
      }
      linkSync(target, path);
      // The inode's owner, mode and times came with its first name.
      return;
    }
    case 'char':
    case 'block':
    case 'fifo': {
      const type = header.type === 'char' ? S_IFCHR : header.type === 'block' ? S_IFBLK : S_IFIFO;
      // A user namespace cannot make device nodes (and could not open them): rootless, the
      // snapshot goes without them, as rootless Podman's does. The layer's blob keeps them.
      if (type !== S_IFIFO && userNamespace().rootless) return;
      x.sys.mknod(path, type | (header.mode & 0o777), header.devmajor ?? 0, header.devminor ?? 0);
      break;
    }
  }
  setOwnerAndXattrs(x, path, header);
  lutimesSync(path, seconds, seconds);
}

function applyOpaque(x: Extraction, dirRel: string): void {
  if (x.mode === 'overlay') {
    const dir = x.dirs.resolve(dirRel, true)!;
    x.sys.lsetxattr(dir, overlayXattr('opaque'), Buffer.from('y'));
    return;
  }
  const dir = x.dirs.resolve(dirRel, false);
  if (dir === undefined) return;
  for (const child of readdirSync(dir)) {
    const childRel = dirRel === '' ? child : `${dirRel}/${child}`;
    if (!x.written.has(childRel)) rmSync(join(dir, child), { recursive: true, force: true });
  }
  x.dirs.invalidate();
}

/** `victim` is a plain name (classifyMember saw to it): the whiteout stays in its directory. */
function applyWhiteout(x: Extraction, dirRel: string, victim: string, header: TarHeader): void {
  if (x.mode === 'overlay') {
    const dir = x.dirs.resolve(dirRel, true)!;
    const path = join(dir, victim);
    rmSync(path, { recursive: true, force: true });
    x.sys.mknod(path, S_IFCHR, 0, 0);
    // The whiteout keeps the time the layer gives it, so a layer unpacked again diffs the same.
    lutimesSync(path, header.mtime, header.mtime);
    markWritten(x, dirRel === '' ? victim : `${dirRel}/${victim}`);
  } else {
    const dir = x.dirs.resolve(dirRel, false);
    if (dir !== undefined) rmSync(join(dir, victim), { recursive: true, force: true });
  }
  x.dirs.invalidate();
}

async function applyMember(x: Extraction, header: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
  const member = classifyMember(header.name);
  switch (member.kind) {
    case 'root': return; // The root's own entry (`./`): the destination keeps its metadata.
    case 'aufs': return;
    case 'opaque': return applyOpaque(x, member.dirRel);
    case 'whiteout': return applyWhiteout(x, member.dirRel, member.victim, header);
    case 'entry':
      await extractEntry(x, member.rel, header, body);
      markWritten(x, member.rel);
  }
}

/**
 * Whether `path` (built from real names under `root`) still is a directory reached through
 * directories only: a later member may have replaced one of them with a symlink.
 */
function stillRealDir(root: string, path: string): boolean {
  // Top down, so no lstat ever passes through a symlink (one that leads out, or loops).
  for (let at = path.indexOf('/', root.length + 1); ; at = path.indexOf('/', at + 1)) {
    const stat = lstatSync(at < 0 ? path : path.slice(0, at), { throwIfNoEntry: false });
    if (!stat?.isDirectory()) return false;
    if (at < 0) return true;
  }
}

/** A pass-through view of a stream that hashes it, and can finish reading it after a consumer stops. */
function hashing(stream: Readable) {
  const digester = createDigester();
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const pull = async () => {
    const next = await iterator.next();
    if (!next.done) digester.update(next.value);
    return next;
  };
  const view: AsyncIterable<Buffer> = {
    [Symbol.asyncIterator]: () => ({ next: pull, return: async () => ({ done: true, value: undefined }) }),
  };
  return {
    view,
    /** Reads the rest (the archive's trailing zero blocks) so the hash covers every byte. */
    async finish(): Promise<{ digest: Digest; size: number }> {
      while (!(await pull()).done);
      return { digest: digester.digest(), size: digester.size() };
    },
  };
}

/** Extracts a layer (plain, gzip or zstd; sniffed) into `destDir`. */
export async function applyTar(source: Readable | AsyncIterable<Uint8Array>, destDir: string, options: ApplyOptions): Promise<ApplyResult> {
  const { compression, stream } = await openDecompressed(source);
  const root = realpathSync(destDir);
  const ownLinks = new Set<string>();
  const x: Extraction = {
    mode: options.mode,
    chown: options.chown ?? process.getuid?.() === 0,
    dirs: createDirResolver(root, ownLinks),
    ownLinks,
    sys: fsExtra(),
    written: new Set(),
    dirTimes: [],
  };
  const tap = hashing(stream);
  let entries = 0;
  try {
    for await (const { header, body } of readTar(tap.view)) {
      entries++;
      try {
        await applyMember(x, header, body);
      } catch (error) {
        if (error instanceof LayerMemberError) throw error.named(header.name, options.layer);
        throw new LayerMemberError(header.name, `could not be applied: ${(error as Error).message}`, options.layer, { cause: error });
      }
    }
    for (const { path, mtime } of x.dirTimes.reverse()) {
      if (stillRealDir(root, path)) lutimesSync(path, mtime, mtime);
    }
    const { digest, size } = await tap.finish();
    return { compression, diffId: digest, size, entries };
  } catch (error) {
    stream.destroy();
    throw error;
  }
}
