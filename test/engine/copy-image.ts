/**
 * Helpers for the COPY/ADD integration tests: a temp store with busybox:local imported, builds
 * through the CLI, and the built image read back with `berth save` and flattened (whiteouts
 * applied) into path -> entry, the way the differential conformance script compares images.
 * Needs root (builds make overlay snapshots owned by other users).
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { openDecompressed } from '../../src/layer/compression.ts';
import type { TarHeader } from '../../src/layer/tar-format.ts';
import { readTar } from '../../src/layer/tar-io.ts';

const exec = promisify(execFile);
const REPO = path.resolve(import.meta.dirname, '../..');
const BERTH = path.join(REPO, 'bin/berth');

export interface Entry {
  type: 'file' | 'dir' | 'symlink' | 'special';
  mode: number;
  uid: number;
  gid: number;
  /** File content (utf8) for files. */
  text?: string;
  sha?: string;
  linkname?: string;
  /** For a hardlink: the path it links to. */
  hardlinkTo?: string;
  mtime: number;
}

export interface Image {
  files: Map<string, Entry>;
  config: Record<string, unknown>;
}

export interface CliResult { code: number; stdout: string; stderr: string }

/** A context: file name -> content, `{ symlink: target }`, `{ text, mode }` or `{ dir: mode }`. */
export type ContextFiles = Record<string, string | Buffer | { symlink: string } | { text: string | Buffer; mode: number } | { dir: number }>;

export interface CopyBox {
  dir: string;
  berth(args: string[]): Promise<CliResult>;
  context(files: ContextFiles): string;
  /** Builds `dockerfile` in a context made of `files` as `tag`; the CLI result. */
  build(tag: string, dockerfile: string, files?: ContextFiles, args?: string[]): Promise<CliResult>;
  /** Builds and reads the image back; throws with the log when the build fails. */
  image(dockerfile: string, files?: ContextFiles, args?: string[]): Promise<Image>;
  cleanup(): void;
}

function norm(name: string): string {
  return name.replace(/^\/+/, '').replace(/^(\.\/)+/, '').replace(/\/+$/, '');
}

async function applyLayer(files: Map<string, Entry>, blob: Buffer): Promise<void> {
  const { stream } = await openDecompressed(Readable.from([blob]));
  const entries = await collect(stream);
  for (const { name } of entries) {
    const base = path.posix.basename(name);
    const dir = path.posix.dirname(name);
    const prefix = dir === '.' ? '' : `${dir}/`;
    if (base === '.wh..wh..opq') for (const key of [...files.keys()]) if (key.startsWith(prefix) && key !== dir) files.delete(key);
  }
  for (const { name } of entries) {
    const base = path.posix.basename(name);
    if (!base.startsWith('.wh.') || base === '.wh..wh..opq') continue;
    const victim = path.posix.join(path.posix.dirname(name), base.slice(4));
    for (const key of [...files.keys()]) if (key === victim || key.startsWith(`${victim}/`)) files.delete(key);
  }
  for (const { name, header, body } of entries) {
    if (name === '' || path.posix.basename(name).startsWith('.wh.')) continue;
    const common = { mode: header.mode, uid: header.uid, gid: header.gid, mtime: header.mtime };
    let entry: Entry;
    if (header.type === 'directory') entry = { type: 'dir', ...common };
    else if (header.type === 'symlink') entry = { type: 'symlink', linkname: header.linkname, ...common };
    else if (header.type === 'link') {
      const target = files.get(norm(header.linkname ?? ''));
      entry = { ...(target ?? { type: 'file', ...common }), hardlinkTo: norm(header.linkname ?? '') };
    } else if (header.type === 'file') {
      entry = { type: 'file', text: body.toString('utf8'), sha: createHash('sha256').update(body).digest('hex'), ...common };
    } else entry = { type: 'special', ...common };
    if (entry.type !== 'dir' && files.get(name)?.type === 'dir') {
      for (const key of [...files.keys()]) if (key.startsWith(`${name}/`)) files.delete(key);
    }
    files.set(name, entry);
  }
}

async function collect(stream: AsyncIterable<Uint8Array>) {
  const out: Array<{ name: string; header: TarHeader; body: Buffer }> = [];
  for await (const { header, body } of readTar(stream)) {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk);
    out.push({ name: norm(header.name), header, body: Buffer.concat(chunks) });
  }
  return out;
}

/** Reads a docker-archive written by `berth save`. */
export async function readArchive(file: string): Promise<Image> {
  const members = new Map<string, Buffer>();
  for (const { name, body } of await collect(Readable.from([readFileSync(file)]))) members.set(name, body);
  const manifest = JSON.parse(members.get('manifest.json')!.toString('utf8')) as Array<{ Config: string; Layers: string[] }>;
  const config = JSON.parse(members.get(norm(manifest[0].Config))!.toString('utf8')) as { config?: Record<string, unknown> };
  const files = new Map<string, Entry>();
  for (const layer of manifest[0].Layers) await applyLayer(files, members.get(norm(layer))!);
  return { files, config: config.config ?? {} };
}

export async function makeCopyBox(name: string): Promise<CopyBox> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `berth-${name}-`));
  const root = path.join(dir, 'store');
  let count = 0;
  const berth = (args: string[]): Promise<CliResult> => new Promise((resolve) => {
    execFile(BERTH, args, { env: { ...process.env, BERTH_ROOT: root, NO_COLOR: '1' }, cwd: dir, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
  const tarball = path.join(dir, 'busybox.tar');
  await exec(path.join(REPO, 'scripts/busybox-rootfs.sh'), [tarball]);
  const imported = await berth(['import', '-c', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', tarball, 'busybox:local']);
  if (imported.code !== 0) throw new Error(`import failed: ${imported.stderr}`);
  const context = (files: ContextFiles): string => {
    const ctx = path.join(dir, `ctx-${count++}`);
    mkdirSync(ctx, { recursive: true });
    for (const [file, content] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(ctx, file)), { recursive: true });
      const at = path.join(ctx, file);
      if (typeof content === 'string' || Buffer.isBuffer(content)) writeFileSync(at, content);
      else if ('symlink' in content) symlinkSync(content.symlink, at);
      else if ('dir' in content) {
        mkdirSync(at, { recursive: true });
        chmodSync(at, content.dir);
      } else {
        writeFileSync(at, content.text);
        chmodSync(at, content.mode);
      }
    }
    return ctx;
  };
  const build = async (tag: string, dockerfile: string, files: ContextFiles = {}, args: string[] = []): Promise<CliResult> => {
    const ctx = context(files);
    const df = path.join(dir, `Dockerfile-${count++}`);
    writeFileSync(df, dockerfile);
    return berth(['build', '--progress', 'plain', '--network', 'none', '-t', tag, '-f', df, ...args, ctx]);
  };
  return {
    dir, berth, context, build,
    async image(dockerfile, files = {}, args = []) {
      const tag = `copy-test/img${count++}:latest`;
      const result = await build(tag, dockerfile, files, args);
      if (result.code !== 0) throw new Error(`build failed (${result.code}):\n${result.stderr}${result.stdout}`);
      const out = path.join(dir, `save-${count++}.tar`);
      const saved = await berth(['save', '-o', out, tag]);
      if (saved.code !== 0) throw new Error(`save failed: ${saved.stderr}`);
      return readArchive(out);
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
