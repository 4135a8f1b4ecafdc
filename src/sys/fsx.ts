import { existsSync, lstatSync, type Stats } from 'node:fs';
import { nativeFile } from './native-files.ts';

/**
 * File system calls Node's fs lacks, from the native addon (native/addon/sys.c): mknod for
 * whiteouts and device nodes, the l*xattr family for opaque directories and capabilities, and a
 * directory read that stats every entry in the same call (the context walk, src/context/stats.ts).
 * All synchronous; errors are thrown with errno's code in `code`.
 */
export interface FsExtra {
  mknod(file: string, mode: number, major: number, minor: number): void;
  lsetxattr(file: string, name: string, value: Buffer): void;
  /** null when the attribute is absent (or the file system has none). */
  lgetxattr(file: string, name: string): Buffer | null;
  llistxattr(file: string): string[];
  /** Non-blocking flock(2): false when another holder has it. */
  flock(fd: number, operation: number): boolean;
  /** syncfs(2): flushes the whole file system that holds `fd`. */
  syncfs(fd: number): void;
  /**
   * The entries of a directory (no `.`/`..`) sorted as JavaScript sorts strings, each with `prefix`
   * in front, joined with NULs; and their lstat data in the same order, packed as StatChunk in
   * src/context/stats.ts reads it. Errors are Node-like: code, errno, syscall (`scandir`, or
   * `lstat` for an entry) and path.
   */
  readdirStat(dir: string, prefix: string): [names: string, stats: ArrayBuffer];
  /** lstat(2) of one path, packed as one readdirStat record. */
  lstatPacked(file: string): ArrayBuffer;
}

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_UN = 8;

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

let loaded: FsExtra | undefined;

export function fsExtra(): FsExtra {
  if (loaded) return loaded;
  const ADDON = nativeFile('berth_sys.node');
  if (!existsSync(ADDON)) {
    throw new Error(`berth's native addon is missing (${ADDON}); run \`npm install\` (or \`make -C native\`) first`);
  }
  // dlopen directly: the CommonJS loader's require (cold in a start-up snapshot) costs more.
  const module = { exports: {} as FsExtra };
  process.dlopen(module, ADDON);
  loaded = module.exports;
  return loaded;
}

/** lstat(2), or undefined when nothing is there (ENOENT, or ENOTDIR for a parent that is a file). */
export function lstatOrUndefined(file: string): Stats | undefined {
  try {
    return lstatSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
}
