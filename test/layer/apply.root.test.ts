import { execFileSync } from 'node:child_process';
import { chmod, chown, link, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Digest } from '../../src/content/digest.ts';
import { PathEscapeError, applyTar, dirToTar, packTar, type TarHeader, type TarInput } from '../../src/layer/index.ts';
import { fsExtra } from '../../src/sys/fsx.ts';

// Needs root: chown to other users, mknod, trusted.* and security.* xattrs.

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-apply-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function tarBytes(entries: TarInput[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of packTar(entries)) parts.push(part);
  return Buffer.concat(parts);
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

const t = 1_600_000_000;
const h = (name: string, type: TarHeader['type'], extra: Partial<TarHeader> = {}): TarHeader => ({ name, type, mode: 0o644, uid: 0, gid: 0, size: 0, mtime: t, ...extra });
const file = (name: string, text: string, extra: Partial<TarHeader> = {}): TarInput => ({ header: h(name, 'file', { size: Buffer.byteLength(text), ...extra }), body: Buffer.from(text) });

/** type mode uid gid size mtime target, per path, for comparing trees. */
async function describeTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (abs: string, rel: string) => {
    for (const name of (await readdir(abs)).sort()) {
      const path = join(abs, name);
      const st = await lstat(path);
      const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : st.isCharacterDevice() ? 'c' : st.isFIFO() ? 'p' : '?';
      const extra = st.isSymbolicLink() ? await readlink(path) : st.isFile() ? `${st.size}:${st.nlink}` : st.isCharacterDevice() ? String(st.rdev) : '';
      const mtime = st.isSymbolicLink() ? '' : Math.floor(st.mtimeMs / 1000);
      out.push(`${rel}${name} ${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${mtime} ${extra}`);
      if (st.isDirectory()) await visit(path, `${rel}${name}/`);
    }
  };
  await visit(root, '');
  return out;
}

describe('dirToTar → applyTar', () => {
  it('preserves owners, modes, times, links, devices and capabilities', async () => {
    const src = join(dir, 'src');
    await mkdir(join(src, 'usr', 'bin'), { recursive: true });
    await writeFile(join(src, 'usr', 'bin', 'tool'), 'binary');
    await chmod(join(src, 'usr', 'bin', 'tool'), 0o4755);
    await writeFile(join(src, 'usr', 'bin', 'sgid'), 'g');
    await chown(join(src, 'usr', 'bin', 'sgid'), 1000, 50);
    await chmod(join(src, 'usr', 'bin', 'sgid'), 0o2750);
    await link(join(src, 'usr', 'bin', 'tool'), join(src, 'usr', 'bin', 'tool-link'));
    await symlink('usr/bin/tool', join(src, 'tool'));
    await mkdir(join(src, 'tmp'));
    await chmod(join(src, 'tmp'), 0o1777);
    execFileSync('mkfifo', [join(src, 'fifo')]);
    execFileSync('mknod', [join(src, 'null'), 'c', '1', '3']);
    execFileSync('setcap', ['cap_net_raw,cap_setuid+ep', join(src, 'usr', 'bin', 'tool')]);
    const capability = fsExtra().lgetxattr(join(src, 'usr', 'bin', 'tool'), 'security.capability');
    expect(capability).not.toBeNull();
    for (const path of ['usr/bin/tool', 'usr/bin/sgid', 'usr/bin', 'usr', 'tmp', 'fifo', 'null']) await utimes(join(src, path), t, t);

    const tar = await collect(dirToTar(src));
    const dst = join(dir, 'dst');
    await mkdir(dst);
    const result = await applyTar(Readable.from([tar]), dst, { mode: 'plain' });
    expect(result.diffId).toBe(sha256Digest(tar));
    expect(result.compression).toBe('none');
    expect(await describeTree(dst)).toEqual(await describeTree(src));
    expect(fsExtra().lgetxattr(join(dst, 'usr', 'bin', 'tool'), 'security.capability')).toEqual(capability);

    // The same directory archives to the same bytes, and a gzip of it applies the same way.
    expect((await collect(dirToTar(src))).equals(tar)).toBe(true);
    const again = join(dir, 'again');
    await mkdir(again);
    const gz = await applyTar(Readable.from([gzipSync(tar)]), again, { mode: 'plain' });
    expect(gz.compression).toBe('gzip');
    expect(gz.diffId).toBe(result.diffId);
    expect(await describeTree(again)).toEqual(await describeTree(src));
  });

  it('replaces files with directories and back, and writes through no symlink', async () => {
    const dst = join(dir, 'dst');
    await mkdir(join(dst, 'was-dir'), { recursive: true });
    await writeFile(join(dst, 'was-dir', 'inner'), 'x');
    await writeFile(join(dst, 'was-file'), 'x');
    await writeFile(join(dir, 'outside'), 'precious');
    await symlink(join(dir, 'outside'), join(dst, 'victim'));
    await applyTar(Readable.from([await tarBytes([
      file('was-dir', 'now a file'),
      { header: h('was-file/', 'directory', { mode: 0o700 }) },
      file('victim', 'replaced the link, not its target'),
    ])]), dst, { mode: 'plain' });
    expect(await readFile(join(dst, 'was-dir'), 'utf8')).toBe('now a file');
    expect((await lstat(join(dst, 'was-file'))).isDirectory()).toBe(true);
    expect((await lstat(join(dst, 'victim'))).isFile()).toBe(true);
    expect(await readFile(join(dir, 'outside'), 'utf8')).toBe('precious');
  });
});

describe('path escapes', () => {
  it('refuses members that climb out with ..', async () => {
    const dst = join(dir, 'dst');
    await mkdir(dst);
    await expect(applyTar(Readable.from([await tarBytes([file('../escaped', 'x')])]), dst, { mode: 'plain' })).rejects.toBeInstanceOf(PathEscapeError);
    await expect(applyTar(Readable.from([await tarBytes([file('a/../../escaped', 'x')])]), dst, { mode: 'plain' })).rejects.toBeInstanceOf(PathEscapeError);
    await expect(lstat(join(dir, 'escaped'))).rejects.toThrow();
  });

  it('keeps absolute names and symlinked parents inside the root', async () => {
    const dst = join(dir, 'dst');
    await mkdir(dst);
    const outside = join(dir, 'outside');
    await mkdir(outside);
    // The symlinks come from an earlier layer: members below a symlink of their own layer are
    // refused (test/layer/hostile.root.test.ts).
    await applyTar(Readable.from([await tarBytes([
      { header: h('up', 'symlink', { linkname: '../../../../..' }) },
      { header: h('abs', 'symlink', { linkname: outside }) },
    ])]), dst, { mode: 'plain' });
    await applyTar(Readable.from([await tarBytes([
      file('/etc/abs', 'rooted'),
      file('up/via-relative', 'r'),
      file('abs/via-absolute', 'a'),
    ])]), dst, { mode: 'plain' });
    expect(await readFile(join(dst, 'etc', 'abs'), 'utf8')).toBe('rooted');
    // `up` resolves to the root itself; `abs` to <root><outside>, as it would in a container.
    expect(await readFile(join(dst, 'via-relative'), 'utf8')).toBe('r');
    expect(await readFile(join(dst, outside, 'via-absolute'), 'utf8')).toBe('a');
    expect(await readdir(outside)).toEqual([]);
  });

  it('refuses hardlinks to anything outside or missing', async () => {
    const dst = join(dir, 'dst');
    await mkdir(dst);
    await writeFile(join(dir, 'secret'), 's');
    await expect(applyTar(Readable.from([await tarBytes([{ header: h('l', 'link', { linkname: '../secret' }) }])]), dst, { mode: 'plain' })).rejects.toBeInstanceOf(PathEscapeError);
    await symlink(dir, join(dst, 'out'));
    await expect(applyTar(Readable.from([await tarBytes([{ header: h('l2', 'link', { linkname: 'out/secret' }) }])]), dst, { mode: 'plain' })).rejects.toThrow(/not a file in this layer/);
    expect((await lstat(join(dir, 'secret'))).nlink).toBe(1);
  });
});

describe('whiteouts', () => {
  const layer = async () => tarBytes([
    { header: h('gone', 'file', { size: 0 }), body: Buffer.alloc(0) },
    { header: h('keep/', 'directory', { mode: 0o755 }) },
    { header: h('keep/.wh..wh..opq', 'file', { mode: 0o755 }) },
    file('keep/new', 'new'),
    { header: h('.wh.gone', 'file', { mode: 0 }) },
    { header: h('dir/.wh.old', 'file', { mode: 0 }) },
  ]);

  it('delete in plain mode; opaque dirs keep only this layer', async () => {
    const dst = join(dir, 'dst');
    await mkdir(join(dst, 'keep', 'sub'), { recursive: true });
    await writeFile(join(dst, 'keep', 'old'), 'old');
    await mkdir(join(dst, 'dir', 'old'), { recursive: true });
    await writeFile(join(dst, 'dir', 'stays'), 's');
    await applyTar(Readable.from([await layer()]), dst, { mode: 'plain' });
    expect((await readdir(dst)).sort()).toEqual(['dir', 'keep']);
    expect(await readdir(join(dst, 'keep'))).toEqual(['new']);
    expect(await readdir(join(dst, 'dir'))).toEqual(['stays']);
  });

  it('become char 0:0 devices and the opaque xattr in overlay mode', async () => {
    const dst = join(dir, 'dst');
    await mkdir(dst);
    await applyTar(Readable.from([await layer()]), dst, { mode: 'overlay' });
    const gone = await lstat(join(dst, 'gone'));
    expect(gone.isCharacterDevice() && gone.rdev === 0).toBe(true);
    const old = await lstat(join(dst, 'dir', 'old'));
    expect(old.isCharacterDevice() && old.rdev === 0).toBe(true);
    expect(fsExtra().lgetxattr(join(dst, 'keep'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    expect(await readFile(join(dst, 'keep', 'new'), 'utf8')).toBe('new');
  });

  it('never lets a layer forge overlay xattrs', async () => {
    const dst = join(dir, 'dst');
    await mkdir(dst);
    await applyTar(Readable.from([await tarBytes([
      { header: h('d/', 'directory', { xattrs: { 'trusted.overlay.redirect': Buffer.from('/etc'), 'user.note': Buffer.from('kept') } }) },
    ])]), dst, { mode: 'overlay' });
    expect(fsExtra().lgetxattr(join(dst, 'd'), 'trusted.overlay.redirect')).toBeNull();
    expect(fsExtra().lgetxattr(join(dst, 'd'), 'user.note')?.toString()).toBe('kept');
  });
});
