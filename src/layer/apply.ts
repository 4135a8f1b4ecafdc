import { constants as fsConstants } from 'node:fs';
import { chmod, lchown, link, lutimes, mkdir, open, readdir, realpath, rm, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createDigester, type Digest } from '../content/digest.ts';
import { openDecompressed, type Compression } from './compression.ts';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from './diff.ts';
import { baseRel, cleanMemberPath, createDirResolver, parentRel, type DirResolver } from './scope.ts';
import { S_IFBLK, S_IFCHR, S_IFIFO, fsExtra, lstatOrUndefined, type FsExtra } from '../sys/fsx.ts';
import type { TarHeader } from './tar-format.ts';
import { readTar } from './tar-io.ts';
import { isOverlayXattr, overlayXattr } from './overlay-format.ts';

/**
 * Layer tar → directory. `overlay` mode writes an overlay upper directory (a snapshot for the
 * overlay stack): whiteouts become char 0:0 devices and opaque markers set
 * `trusted.overlay.opaque=y`. `plain` mode applies the layer on top of what `destDir` holds
 * (flattening): whiteouts delete, opaque markers empty the directory of older entries.
 *
 * On failure `destDir` is left partly written; callers extract into a fresh snapshot and drop it.
 */
export type ApplyMode = 'overlay' | 'plain';

export interface ApplyOptions {
  mode: ApplyMode;
  /** Set owners from the tar (default: when running as root). */
  chown?: boolean;
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

async function setOwnerAndXattrs(x: Extraction, path: string, header: TarHeader): Promise<void> {
  if (x.chown) await lchown(path, header.uid, header.gid);
  // chown clears setuid/setgid, so the mode goes on after it (symlinks have no mode of their own).
  if (header.type !== 'symlink') await chmod(path, header.mode & 0o7777);
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

/** Writes a new file (never through a symlink, never over an existing one) from a tar body. */
export async function writeNewFile(path: string, body: AsyncIterable<Buffer>): Promise<void> {
  const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW;
  const handle = await open(path, flags, 0o600);
  try {
    for await (const chunk of body) {
      let offset = 0;
      while (offset < chunk.length) offset += (await handle.write(chunk, offset, chunk.length - offset)).bytesWritten;
    }
  } finally {
    await handle.close();
  }
}

/** Removes whatever is at `path` so an entry can take its place (a directory stays for a directory). */
async function clearFor(x: Extraction, path: string, header: TarHeader): Promise<boolean> {
  const existing = lstatOrUndefined(path);
  if (!existing) return false;
  if (header.type === 'directory' && existing.isDirectory()) return true;
  if (existing.isDirectory()) await rm(path, { recursive: true, force: true });
  else await unlink(path);
  if (existing.isDirectory() || existing.isSymbolicLink()) x.dirs.invalidate();
  return false;
}

async function extractEntry(x: Extraction, rel: string, header: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
  const parent = (await x.dirs.resolve(parentRel(rel), true))!;
  const path = join(parent, baseRel(rel));
  const keptDir = await clearFor(x, path, header);
  const seconds = header.mtime;
  switch (header.type) {
    case 'directory':
      if (!keptDir) await mkdir(path);
      await setOwnerAndXattrs(x, path, header);
      x.dirTimes.push({ path, mtime: seconds });
      return;
    case 'file':
      await writeNewFile(path, body);
      break;
    case 'symlink':
      await symlink(header.linkname ?? '', path);
      x.dirs.invalidate();
      break;
    case 'link': {
      const targetRel = cleanMemberPath(header.linkname ?? '');
      const targetParent = await x.dirs.resolve(parentRel(targetRel), false);
      const target = targetParent === undefined ? undefined : join(targetParent, baseRel(targetRel));
      const stat = target === undefined ? undefined : lstatOrUndefined(target);
      if (!target || !stat || stat.isDirectory()) {
        throw new Error(`hardlink ${rel} points at ${header.linkname}, which is not a file in this layer`);
      }
      await link(target, path);
      // The inode's owner, mode and times came with its first name.
      return;
    }
    case 'char':
    case 'block':
    case 'fifo': {
      const type = header.type === 'char' ? S_IFCHR : header.type === 'block' ? S_IFBLK : S_IFIFO;
      x.sys.mknod(path, type | (header.mode & 0o777), header.devmajor ?? 0, header.devminor ?? 0);
      break;
    }
  }
  await setOwnerAndXattrs(x, path, header);
  await lutimes(path, seconds, seconds);
}

async function applyWhiteout(x: Extraction, rel: string, header: TarHeader): Promise<void> {
  const dirRel = parentRel(rel);
  const name = baseRel(rel);
  if (name === OPAQUE_MARKER) {
    if (x.mode === 'overlay') {
      const dir = (await x.dirs.resolve(dirRel, true))!;
      x.sys.lsetxattr(dir, overlayXattr('opaque'), Buffer.from('y'));
      return;
    }
    const dir = await x.dirs.resolve(dirRel, false);
    if (dir === undefined) return;
    for (const child of await readdir(dir)) {
      const childRel = dirRel === '' ? child : `${dirRel}/${child}`;
      if (!x.written.has(childRel)) await rm(join(dir, child), { recursive: true, force: true });
    }
    x.dirs.invalidate();
    return;
  }
  // `.wh..wh.*` other than the opaque marker is aufs bookkeeping, meaningless here.
  if (name.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return;
  const victim = name.slice(WHITEOUT_PREFIX.length);
  if (x.mode === 'overlay') {
    const dir = (await x.dirs.resolve(dirRel, true))!;
    const path = join(dir, victim);
    await rm(path, { recursive: true, force: true });
    x.sys.mknod(path, S_IFCHR, 0, 0);
    // The whiteout keeps the time the layer gives it, so a layer unpacked again diffs the same.
    await lutimes(path, header.mtime, header.mtime);
    markWritten(x, dirRel === '' ? victim : `${dirRel}/${victim}`);
  } else {
    const dir = await x.dirs.resolve(dirRel, false);
    if (dir !== undefined) await rm(join(dir, victim), { recursive: true, force: true });
  }
  x.dirs.invalidate();
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
  const root = await realpath(destDir);
  const x: Extraction = {
    mode: options.mode,
    chown: options.chown ?? process.getuid?.() === 0,
    dirs: createDirResolver(root),
    sys: fsExtra(),
    written: new Set(),
    dirTimes: [],
  };
  const tap = hashing(stream);
  let entries = 0;
  try {
    for await (const { header, body } of readTar(tap.view)) {
      const rel = cleanMemberPath(header.name);
      entries++;
      if (rel === '') continue; // The root's own entry (`./`): the destination keeps its metadata.
      if (baseRel(rel).startsWith(WHITEOUT_PREFIX)) await applyWhiteout(x, rel, header);
      else {
        await extractEntry(x, rel, header, body);
        markWritten(x, rel);
      }
    }
    for (const { path, mtime } of x.dirTimes.reverse()) {
      await lutimes(path, mtime, mtime).catch((error: unknown) => {
        if (errnoOf(error) !== 'ENOENT') throw error;
      });
    }
    const { digest, size } = await tap.finish();
    return { compression, diffId: digest, size, entries };
  } catch (error) {
    stream.destroy();
    throw error;
  }
}
