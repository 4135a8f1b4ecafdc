import { createReadStream, lchownSync, linkSync, lutimesSync, symlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { openDecompressed } from '../layer/compression.ts';
import { BLOCK, decodeRawHeader, isZeroBlock } from '../layer/tar-format.ts';
import type { TarHeader } from '../layer/tar-format.ts';
import { readTar } from '../layer/tar-io.ts';
import { writeNewFile } from '../layer/apply.ts';
import { WHITEOUT_PREFIX } from '../layer/diff.ts';
import { lookup, resolveInRoot, type MergedView } from '../fsview/merged.ts';
import { dirSlot, ensureDir, fileSlot, finishDir, setMeta, upperPath, writeNonDir } from '../fsview/upper.ts';
import { S_IFBLK, S_IFCHR, S_IFIFO, fsExtra } from '../sys/fsx.ts';
import { isOverlayXattr } from '../layer/overlay-format.ts';

/**
 * ADD's archive handling, as Docker's: whether a file is a tar is decided by its content alone
 * (plain, gzip, bzip2, xz or zstd, and a first header with a valid checksum), never its name; an
 * archive is extracted into the destination the way `tar -x` run chrooted there would: members
 * keep their owners, modes and times from the archive (not --chown, not --chmod), `..` and
 * absolute names stay inside, symlinks are followed inside the destination only, existing
 * directories are merged and anything else in the way is replaced, missing parents are made 0755
 * root-owned.
 */
export class ArchiveError extends Error {
  readonly code = 'EARCHIVE';
}

/** Reads up to `size` bytes from the start of a stream, then stops it. */
async function head(stream: AsyncIterable<Buffer>, size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    chunks.push(chunk);
    length += chunk.length;
    if (length >= size) break;
  }
  return Buffer.concat(chunks).subarray(0, size);
}

/** Whether `file` is a (possibly compressed) tar archive, judged by its content. */
export async function isArchive(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const stream = handle.createReadStream({ autoClose: false });
    try {
      const { stream: plain } = await openDecompressed(stream);
      let block: Buffer;
      try {
        block = await head(plain as AsyncIterable<Buffer>, BLOCK);
      } finally {
        plain.destroy();
      }
      if (block.length < BLOCK || isZeroBlock(block)) return false;
      decodeRawHeader(block);
      return true;
    } finally {
      stream.destroy();
    }
  } catch {
    return false;
  } finally {
    await handle.close();
  }
}

/** A member name inside the chroot: leading `/` dropped, `..` stopping at the top. */
function memberPath(name: string): string {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return parts.join('/');
}

function within(base: string, rel: string): string {
  return base ? (rel ? `${base}/${rel}` : base) : rel;
}

function setXattrs(file: string, header: TarHeader): void {
  for (const [name, value] of Object.entries(header.xattrs ?? {})) {
    if (isOverlayXattr(name)) continue;
    try {
      fsExtra().lsetxattr(file, name, value);
    } catch {
      // Docker skips attributes the file system cannot hold.
    }
  }
}

/** The member a hardlink names, copied up into the upper dir so a link can point at it. */
function hardlinkSource(view: MergedView, destRel: string, linkname: string, member: string): string {
  const rel = memberPath(linkname);
  if (rel === '') throw new ArchiveError(`hardlink ${member} points at the archive's root`);
  const parent = resolveInRoot(view, path.posix.dirname(rel), true, destRel);
  const target = within(parent, path.posix.basename(rel));
  const entry = lookup(view, target);
  if (!entry || entry.stat.isDirectory()) throw new ArchiveError(`hardlink ${member} points at ${linkname}, which is not in the archive's destination`);
  if (entry.dirLayers[0] !== 0) {
    writeNonDir(view, target, { hostPath: entry.hostPath, stat: entry.stat, linkTarget: undefined }, { uid: entry.stat.uid, gid: entry.stat.gid, mode: entry.stat.mode & 0o7777 });
  }
  return target;
}

/** Extracts the archive at `file` into directory `destRel` (resolved, existing) of the view. */
export async function extractArchive(view: MergedView, file: string, destRel: string): Promise<void> {
  const { stream } = await openDecompressed(createReadStream(file));
  const dirTimes: Array<{ rel: string; time: Date }> = [];
  try {
    for await (const { header, body } of readTar(stream as AsyncIterable<Uint8Array>)) {
      const member = memberPath(header.name);
      if (member === '') continue; // The archive's root: the destination keeps its own metadata.
      if (path.posix.basename(member).startsWith(WHITEOUT_PREFIX)) {
        // In the layer it would become a whiteout: the image would differ once unpacked elsewhere.
        throw new ArchiveError(`${path.basename(file)}: member ${JSON.stringify(header.name)} has a name starting with "${WHITEOUT_PREFIX}", reserved for whiteouts in image layers`);
      }
      const parent = resolveInRoot(view, path.posix.dirname(member), true, destRel);
      ensureDir(view, parent, { uid: 0, gid: 0 });
      const target = within(parent, path.posix.basename(member));
      const time = new Date(header.mtime * 1000);
      const meta = { uid: header.uid, gid: header.gid, mode: header.mode };
      switch (header.type) {
        case 'directory': {
          const { hostPath } = dirSlot(view, target, true);
          setMeta(hostPath, meta, undefined, false);
          setXattrs(hostPath, header);
          dirTimes.push({ rel: target, time });
          break;
        }
        case 'file': {
          const hostPath = fileSlot(view, target, true);
          await writeNewFile(hostPath, body);
          setMeta(hostPath, meta, { atime: time, mtime: time }, false);
          setXattrs(hostPath, header);
          break;
        }
        case 'symlink': {
          const hostPath = fileSlot(view, target, true);
          symlinkSync(header.linkname ?? '', hostPath);
          lchownSync(hostPath, header.uid, header.gid);
          lutimesSync(hostPath, time, time);
          break;
        }
        case 'link': {
          const source = hardlinkSource(view, destRel, header.linkname ?? '', header.name);
          if (source === target) break;
          const hostPath = fileSlot(view, target, true);
          linkSync(upperPath(view, source), hostPath);
          break;
        }
        case 'char':
        case 'block':
        case 'fifo': {
          const hostPath = fileSlot(view, target, true);
          const type = header.type === 'char' ? S_IFCHR : header.type === 'block' ? S_IFBLK : S_IFIFO;
          fsExtra().mknod(hostPath, type | (header.mode & 0o777), header.devmajor ?? 0, header.devminor ?? 0);
          setMeta(hostPath, meta, { atime: time, mtime: time }, false);
          break;
        }
      }
    }
  } catch (error) {
    stream.destroy();
    const code = (error as NodeJS.ErrnoException).code;
    if (error instanceof ArchiveError || code === 'ECOPYCONFLICT' || code === 'ENOTDIR') throw error;
    throw new ArchiveError(`failed to extract ${path.basename(file)}: ${(error as Error).message}`);
  }
  for (const { rel, time } of dirTimes.reverse()) finishDir(view, rel, { atime: time, mtime: time });
}
