import { lstatSync, mkdirSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { packTar, type TarHeader, type TarInput } from '../../src/layer/index.ts';

/**
 * Layer tars an attacker would craft, for the tests of every path that applies a layer (apply,
 * load, pull, import, snapshot unpack, -o type=local/tar), and the sandbox they are checked in:
 * a destination with canary siblings, compared before and after.
 */

const T = 1_600_000_000;
export const h = (name: string, type: TarHeader['type'], extra: Partial<TarHeader> = {}): TarHeader => ({ name, type, mode: 0o644, uid: 0, gid: 0, size: 0, mtime: T, ...extra });
export const file = (name: string, text = 'x'): TarInput => ({ header: h(name, 'file', { size: Buffer.byteLength(text) }), body: Buffer.from(text) });
export const whiteout = (name: string): TarInput => ({ header: h(name, 'file', { mode: 0 }) });
export const symlink = (name: string, target: string): TarInput => ({ header: h(name, 'symlink', { mode: 0o777, linkname: target }) });
export const hardlink = (name: string, target: string): TarInput => ({ header: h(name, 'link', { linkname: target }) });

export interface HostileCase {
  name: string;
  entries: TarInput[];
  /** The member the error must name. */
  member: string;
}

/** Names that land beside the destination if anything writes through. */
export const ESCAPED = 'escaped-by-layer';

export const HOSTILE: HostileCase[] = [
  { name: 'whiteout .wh. (of the directory itself)', entries: [file('ok'), whiteout('.wh.')], member: '.wh.' },
  { name: 'whiteout .wh.. (of "." )', entries: [file('ok'), whiteout('.wh..')], member: '.wh..' },
  { name: 'whiteout .wh... (of the parent)', entries: [file('ok'), whiteout('.wh...')], member: '.wh...' },
  { name: 'whiteout .wh... below the top', entries: [{ header: h('d/', 'directory', { mode: 0o755 }) }, whiteout('d/.wh...')], member: 'd/.wh...' },
  { name: 'whiteout ../.wh.canary', entries: [whiteout('../.wh.canary')], member: '../.wh.canary' },
  { name: 'whiteout a/../../.wh.canary', entries: [whiteout('a/../../.wh.canary')], member: 'a/../../.wh.canary' },
  { name: 'member ../escaped', entries: [file(`../${ESCAPED}`)], member: `../${ESCAPED}` },
  { name: 'member through link -> /', entries: [symlink('link', '/'), file(`link/${ESCAPED}`)], member: `link/${ESCAPED}` },
  { name: 'member through link -> ..', entries: [symlink('link', '..'), file(`link/${ESCAPED}`)], member: `link/${ESCAPED}` },
  { name: 'member through link -> ../../..', entries: [symlink('link', '../../..'), file(`link/${ESCAPED}`)], member: `link/${ESCAPED}` },
  { name: 'member through a/b -> ../..', entries: [{ header: h('a/', 'directory', { mode: 0o755 }) }, symlink('a/b', '../..'), file(`a/b/${ESCAPED}`)], member: `a/b/${ESCAPED}` },
  { name: 'whiteout through link -> ..', entries: [symlink('link', '..'), whiteout('link/.wh.canary')], member: 'link/.wh.canary' },
  { name: 'opaque marker through link -> ..', entries: [symlink('link', '..'), whiteout('link/.wh..wh..opq')], member: 'link/.wh..wh..opq' },
  { name: 'hard link to ../canary', entries: [hardlink('h', '../canary')], member: 'h' },
  { name: 'hard link through link -> ..', entries: [symlink('link', '..'), hardlink('h', 'link/canary')], member: 'h' },
];

export async function tarOf(entries: TarInput[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of packTar(entries)) parts.push(part);
  return Buffer.concat(parts);
}

/**
 * `<dir>/canary` (a file), `<dir>/canary-dir/inner` and the destination `<dir>/<dest>`; returns
 * the destination.
 */
export function plantCanaries(dir: string, dest = 'dest'): string {
  mkdirSync(path.join(dir, 'canary-dir'), { recursive: true });
  writeFileSync(path.join(dir, 'canary'), 'precious');
  writeFileSync(path.join(dir, 'canary-dir', 'inner'), 'precious');
  const destDir = path.join(dir, dest);
  mkdirSync(destDir, { recursive: true });
  return destDir;
}

/** Every path under `dir` but those under `skip`, with its type, size and link target. */
export function listOutside(dir: string, skip: string[]): string[] {
  const out: string[] = [];
  const visit = (abs: string) => {
    for (const name of readdirSync(abs).sort()) {
      const child = path.join(abs, name);
      if (skip.some((s) => child === s || child.startsWith(`${s}/`))) continue;
      const st = lstatSync(child);
      const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? `l:${readlinkSync(child)}` : st.isFile() ? `f:${st.size}:${st.mtimeMs}` : `?:${st.mode}`;
      out.push(`${path.relative(dir, child)} ${kind}`);
      if (st.isDirectory()) visit(child);
    }
  };
  visit(dir);
  return out;
}
