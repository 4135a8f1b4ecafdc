/**
 * The single executable's native files (scripts/sea.ts puts berth-sandbox and berth_sys.node in
 * it as assets): each is written out once to <cache>/berth/native/<its sha-256>/<name> and
 * compared byte for byte with the asset before every use, so a file changed or torn in the cache
 * is written again, never run. Only when first asked for: a no-op build never starts the helper.
 */
import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import type { NativeName } from '../sys/native-files.ts';

/** The assets' digests, baked in by scripts/sea.ts (undefined when this runs from anything else). */
declare const __BERTH_NATIVE_DIGESTS__: Record<NativeName, string> | undefined;

/** $XDG_CACHE_HOME/berth, else ~/.cache/berth; with neither, a directory of this user's in the temp directory. */
export function cacheDirectory(env = process.env): string {
  if (env.XDG_CACHE_HOME?.startsWith('/')) return `${env.XDG_CACHE_HOME}/berth`;
  if (env.HOME?.startsWith('/')) return `${env.HOME}/.cache/berth`;
  return `${os.tmpdir()}/berth-${process.getuid?.() ?? 0}`;
}

/** Refuses a directory someone else could put files in (the temp directory's fallback, a shared cache). */
function checkPrivate(dir: string): void {
  const stat = lstatSync(dir);
  if (!stat.isDirectory() || stat.uid !== process.getuid?.() || (stat.mode & 0o022) !== 0) {
    throw new Error(`${dir} is not a directory of this user's that only it can write: berth does not run native files from it`);
  }
}

function sameBytes(file: string, asset: Uint8Array): boolean {
  try {
    return Buffer.compare(readFileSync(file), asset) === 0;
  } catch {
    return false;
  }
}

function writeOut(file: string, asset: Uint8Array, mode: number): void {
  const temp = `${file}.${process.pid}.tmp`;
  const fd = openSync(temp, 'w', mode);
  try {
    for (let done = 0; done < asset.length;) done += writeSync(fd, asset, done);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

/** What src/sys/native-files.ts asks for a native file's path: written out and checked first. */
export function nativeResolver(cache = cacheDirectory()): (name: NativeName) => string {
  const ready = new Map<NativeName, string>();
  return (name) => {
    const known = ready.get(name);
    if (known) return known;
    const digest = typeof __BERTH_NATIVE_DIGESTS__ === 'object' ? __BERTH_NATIVE_DIGESTS__[name] : undefined;
    if (!digest) throw new Error(`this berth carries no ${name}`);
    // Loaded when used: node:sea loaded while a snapshot is built makes Node warn (at build time).
    const sea = process.getBuiltinModule('node:sea');
    const asset = new Uint8Array(sea.getRawAsset(name));
    const dir = `${cache}/native/${digest}`;
    const file = `${dir}/${name}`;
    // Each level: whoever may rename entries in one could swap the file after it was checked.
    const levels = [cache, `${cache}/native`, dir];
    if (!sameBytes(file, asset)) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      levels.forEach(checkPrivate);
      writeOut(file, asset, name === 'berth-sandbox' ? 0o755 : 0o644);
      if (!sameBytes(file, asset)) throw new Error(`${file} does not hold what was written to it`);
    } else {
      levels.forEach(checkPrivate);
    }
    ready.set(name, file);
    return file;
  };
}

/**
 * Whether this process lacks CAP_SYS_ADMIN (an ordinary user, root in an unprivileged container)
 * and is not yet in berth's user namespace: bin/berth's test, for the single executable.
 */
export function needsUserNamespace(): boolean {
  if (process.env.BERTH_USERNS) return false;
  const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((entry) => entry.startsWith('CapEff:'));
  const caps = BigInt(`0x${line?.split(/\s+/)[1] ?? '0'}`);
  return ((caps >> 21n) & 1n) === 0n;
}
