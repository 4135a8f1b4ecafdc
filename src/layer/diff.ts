import { createReadStream, lstatSync, readdirSync, readFileSync, readlinkSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fsExtra } from '../sys/fsx.ts';
import type { TarHeader } from './tar-format.ts';
import { tarStream, type TarInput } from './tar-io.ts';
import { openSpliceReader, type LayerSplice, type SpliceReader } from './splice.ts';
import { overlayXattr } from './overlay-format.ts';

/**
 * Directory → layer tar. `diffToTar` reads an overlayfs upper directory and writes the OCI
 * change set it stands for: char 0:0 devices become `.wh.<name>` whiteouts and directories with
 * `trusted.overlay.opaque=y` get a `.wh..wh..opq` marker. `dirToTar` archives a plain directory.
 *
 * Output is a pure function of the tree: entries in depth-first order with each directory's
 * children sorted bytewise (so a directory always precedes its contents), names relative with no
 * leading `/` or `./`, directories with a trailing `/`, times in whole seconds, no user or group
 * names, and only the `security.capability` xattr, as Docker's layers carry.
 */
export interface ArchiveOptions {
  /** Clamp every mtime to at most this many seconds since the epoch (SOURCE_DATE_EPOCH). */
  maxMtime?: number;
  /** Members to copy from an earlier layer blob instead of archiving their files again. */
  splice?: LayerSplice;
  /** Told where each member's bytes went in the archive (for a later splice). */
  onEntry?(name: string, offset: number, length: number): void;
}

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

/**
 * A file whose name starts with `.wh.` in a directory being archived: in a layer it would read
 * as a whiteout, so an image built with it would lose a file when loaded elsewhere (while the
 * build itself, reading its own snapshot, still saw it). Never archived; the build step fails.
 */
export class ReservedNameError extends Error {
  /** Root-relative path of the offending entry. */
  readonly path: string;
  constructor(path: string) {
    const victim = `${parentOf(path)}${baseOf(path).slice(WHITEOUT_PREFIX.length)}`;
    super(`/${path}: names starting with "${WHITEOUT_PREFIX}" are reserved for whiteouts in image layers (this one would delete /${victim} when the image is unpacked)`);
    this.name = 'ReservedNameError';
    this.path = path;
  }
}

const CAPABILITY = 'security.capability';
/** Overlay features whose upper dirs cannot be read as a change set on their own. */
// Names depend on the user namespace, known only when berth runs (not when its snapshot is made).
const unsupportedXattrs = (): string[] => [overlayXattr('redirect'), overlayXattr('metacopy')];

interface Found {
  rel: string;
  abs: string;
  /** Undefined for a file whose member is spliced from an earlier blob (never looked at). */
  stat?: BigIntStats;
}

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * Depth-first walk, children sorted bytewise; the root itself is not listed. Synchronous on
 * purpose: a layer is tens of thousands of small lstat calls, and each costs far less inline than
 * a round trip through the thread pool.
 */
function walk(root: string, splice: LayerSplice | undefined): Found[] {
  const found: Found[] = [];
  const visit = (abs: string, rel: string) => {
    const dirents = readdirSync(abs, { withFileTypes: true }).sort((a, b) => byBytes(a.name, b.name));
    for (const dirent of dirents) {
      const name = dirent.name;
      const childAbs = join(abs, name);
      const childRel = rel === '' ? name : `${rel}/${name}`;
      if (splice && dirent.isFile() && splice.same.has(childRel) && splice.members.has(childRel)) {
        found.push({ rel: childRel, abs: childAbs });
        continue;
      }
      const stat = lstatSync(childAbs, { bigint: true });
      found.push({ rel: childRel, abs: childAbs, stat });
      if (stat.isDirectory()) visit(childAbs, childRel);
    }
  };
  visit(root, '');
  return found;
}

/** Files up to this size are read whole when their turn comes; larger ones are streamed. */
const SMALL_FILE = 1 << 20;

/** Linux's dev_t split (glibc's gnu_dev_major/minor). */
export function deviceNumbers(rdev: bigint): { major: number; minor: number } {
  return {
    major: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)),
    minor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)),
  };
}

function isWhiteoutDevice(stat: BigIntStats): boolean {
  return stat.isCharacterDevice() && stat.rdev === 0n;
}

function baseHeader(rel: string, stat: BigIntStats, options: ArchiveOptions): Omit<TarHeader, 'type' | 'name'> {
  const seconds = Number(stat.mtimeNs / 1_000_000_000n);
  return {
    mode: Number(stat.mode) & 0o7777,
    uid: Number(stat.uid),
    gid: Number(stat.gid),
    size: 0,
    mtime: options.maxMtime === undefined ? seconds : Math.min(seconds, options.maxMtime),
  };
}

function parentOf(rel: string): string {
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? '' : rel.slice(0, slash + 1);
}

function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

/**
 * The entries of the archive for `root`, bodies not yet read. With `whiteouts`, `root` is read
 * as an overlay upper directory.
 */
export async function archiveEntries(root: string, whiteouts: boolean, options: ArchiveOptions = {}, splicer?: SpliceReader): Promise<TarInput[]> {
  const found = walk(root, splicer && options.splice);
  const OPAQUE = overlayXattr('opaque');
  const UNSUPPORTED = unsupportedXattrs();
  const wanted = whiteouts ? [CAPABILITY, OPAQUE, ...UNSUPPORTED] : [CAPABILITY];
  const sys = fsExtra();
  const xattrsOf = (abs: string, stat: BigIntStats): Record<string, Buffer> => {
    const out: Record<string, Buffer> = {};
    if (!stat.isFile() && !stat.isDirectory()) return out;
    for (const name of sys.llistxattr(abs)) {
      if (!wanted.includes(name)) continue;
      const value = sys.lgetxattr(abs, name);
      if (value !== null) out[name] = value;
    }
    return out;
  };

  const entries: TarInput[] = [];
  const firstPathOfInode = new Map<string, string>();
  for (const { rel, abs, stat } of found) {
    if (baseOf(rel).startsWith(WHITEOUT_PREFIX)) throw new ReservedNameError(rel);
    if (!stat) {
      entries.push({ name: rel, raw: () => splicer!.member(rel)! });
      continue;
    }
    const base = baseHeader(rel, stat, options);
    const attrs = xattrsOf(abs, stat);
    if (whiteouts) {
      const unsupported = UNSUPPORTED.find((name) => attrs[name] !== undefined);
      if (unsupported) {
        throw new Error(`${abs} carries ${unsupported}: mount overlays with redirect_dir=off and metacopy=off to diff their upper dirs`);
      }
      if (isWhiteoutDevice(stat)) {
        // Overlay may hardlink all whiteouts to one inode; they are never hardlinks in a layer.
        entries.push({ header: { ...base, mode: 0, name: `${parentOf(rel)}${WHITEOUT_PREFIX}${baseOf(rel)}`, type: 'file' } });
        continue;
      }
    }
    const capability = attrs[CAPABILITY] ? { xattrs: { [CAPABILITY]: attrs[CAPABILITY] } } : {};

    if (stat.isDirectory()) {
      entries.push({ header: { ...base, ...capability, name: `${rel}/`, type: 'directory' } });
      if (whiteouts && attrs[OPAQUE]?.toString() === 'y') {
        entries.push({ header: { ...base, mode: base.mode & 0o777, name: `${rel}/${OPAQUE_MARKER}`, type: 'file' } });
      }
      continue;
    }
    if (stat.isSocket()) continue; // Docker leaves sockets out of layers too.

    if (stat.nlink > 1n) {
      const key = `${stat.dev}:${stat.ino}`;
      const first = firstPathOfInode.get(key);
      if (first !== undefined) {
        entries.push({ header: { ...base, name: rel, type: 'link', linkname: first } });
        continue;
      }
      firstPathOfInode.set(key, rel);
    }

    if (stat.isFile()) {
      const size = Number(stat.size);
      const body = size <= SMALL_FILE ? () => [readFileSync(abs)] : () => createReadStream(abs);
      entries.push({ header: { ...base, ...capability, name: rel, type: 'file', size }, body });
    } else if (stat.isSymbolicLink()) {
      entries.push({ header: { ...base, name: rel, type: 'symlink', linkname: readlinkSync(abs) } });
    } else if (stat.isCharacterDevice() || stat.isBlockDevice()) {
      const { major, minor } = deviceNumbers(stat.rdev);
      entries.push({ header: { ...base, name: rel, type: stat.isCharacterDevice() ? 'char' : 'block', devmajor: major, devminor: minor } });
    } else if (stat.isFIFO()) {
      entries.push({ header: { ...base, name: rel, type: 'fifo' } });
    }
  }
  return entries;
}

async function* lazy(root: string, whiteouts: boolean, options: ArchiveOptions): AsyncGenerator<TarInput> {
  const splicer = options.splice && openSpliceReader(options.splice);
  try {
    yield* await archiveEntries(root, whiteouts, options, splicer);
  } finally {
    splicer?.close();
  }
}

/** An overlay upper directory as an uncompressed OCI layer tar. */
export function diffToTar(upperDir: string, options: ArchiveOptions = {}): Readable {
  return tarStream(lazy(upperDir, true, options), { onEntry: options.onEntry });
}

/** A plain directory as an uncompressed tar (no whiteout semantics). */
export function dirToTar(dir: string, options: ArchiveOptions = {}): Readable {
  return tarStream(lazy(dir, false, options), { onEntry: options.onEntry });
}
