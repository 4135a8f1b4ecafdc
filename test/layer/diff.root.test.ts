import { execFileSync } from 'node:child_process';
import { appendFile, chmod, chown, link, lstat, mkdir, mkdtemp, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Digest } from '../../src/content/digest.ts';
import { openContentStore, readBlob } from '../../src/content/store.ts';
import { applyTar, diffToTar, readTar, storeLayer, storeLayerAsIs, type TarHeader } from '../../src/layer/index.ts';
import { fsExtra } from '../../src/sys/fsx.ts';

// Mounts a real overlay (root), changes files through it, and diffs the upper directory.

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-diff-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

async function headers(tar: Buffer): Promise<TarHeader[]> {
  const out: TarHeader[] = [];
  for await (const { header, body } of readTar(Readable.from([tar]))) {
    for await (const _ of body);
    out.push(header);
  }
  return out;
}

async function describeTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (abs: string, rel: string) => {
    for (const name of (await readdir(abs)).sort()) {
      const path = join(abs, name);
      const st = await lstat(path);
      const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : st.isCharacterDevice() ? 'c' : '?';
      const extra = st.isSymbolicLink() ? await readlink(path) : st.isFile() ? `${st.size}:${st.nlink}` : String(st.rdev);
      const mtime = st.isSymbolicLink() ? '' : Math.floor(st.mtimeMs / 1000);
      out.push(`${rel}${name} ${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${mtime} ${extra}`);
      if (st.isDirectory()) await visit(path, `${rel}${name}/`);
    }
  };
  await visit(root, '');
  return out;
}

describe('diffToTar of a real overlay upper', () => {
  it('records deletions, opaque dirs, copy-ups, hardlinks, symlinks and capabilities', async () => {
    const lower = join(dir, 'lower');
    const upper = join(dir, 'upper');
    const work = join(dir, 'work');
    const merged = join(dir, 'merged');
    for (const d of [upper, work, merged]) await mkdir(d);
    await mkdir(join(lower, 'etc'), { recursive: true });
    await writeFile(join(lower, 'etc', 'passwd'), 'root:x:0:0\n');
    await writeFile(join(lower, 'etc', 'group'), 'root:x:0:\n');
    await mkdir(join(lower, 'data'));
    await writeFile(join(lower, 'data', 'a'), 'a');
    await writeFile(join(lower, 'data', 'b'), 'b');
    await mkdir(join(lower, 'gone-dir', 'deep'), { recursive: true });
    await writeFile(join(lower, 'gone-dir', 'deep', 'x'), 'x');
    await mkdir(join(lower, 'opaque'));
    await writeFile(join(lower, 'opaque', 'old'), 'old');

    let flatExpected: string[];
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work},index=off,redirect_dir=off,metacopy=off`, merged]);
    try {
      await rm(join(merged, 'etc', 'group'));
      await rm(join(merged, 'gone-dir'), { recursive: true });
      await rm(join(merged, 'opaque'), { recursive: true });
      await mkdir(join(merged, 'opaque'));
      await writeFile(join(merged, 'opaque', 'new'), 'new');
      await appendFile(join(merged, 'data', 'a'), 'more');
      await chmod(join(merged, 'data', 'b'), 0o4755);
      await writeFile(join(merged, 'newfile'), 'hello');
      await chown(join(merged, 'newfile'), 1000, 1000);
      await chmod(join(merged, 'newfile'), 0o640);
      await link(join(merged, 'newfile'), join(merged, 'newlink'));
      await symlink('/etc/passwd', join(merged, 'sym'));
      await writeFile(join(merged, 'ping'), 'ping');
      execFileSync('setcap', ['cap_net_raw+ep', join(merged, 'ping')]);
      flatExpected = await describeTree(merged);
    } finally {
      execFileSync('umount', [merged]);
    }

    const tar = await collect(diffToTar(upper));
    const entries = await headers(tar);
    expect(entries.map((e) => e.name)).toEqual([
      'data/',
      'data/a',
      'data/b',
      'etc/',
      'etc/.wh.group',
      '.wh.gone-dir',
      'newfile',
      'newlink',
      'opaque/',
      'opaque/.wh..wh..opq',
      'opaque/new',
      'ping',
      'sym',
    ]);
    const byName = new Map(entries.map((e) => [e.name, e]));
    expect(byName.get('etc/.wh.group')).toMatchObject({ type: 'file', size: 0 });
    expect(byName.get('data/b')).toMatchObject({ type: 'file', mode: 0o4755 });
    expect(byName.get('newfile')).toMatchObject({ type: 'file', uid: 1000, gid: 1000, mode: 0o640, size: 5 });
    expect(byName.get('newlink')).toMatchObject({ type: 'link', linkname: 'newfile' });
    expect(byName.get('sym')).toMatchObject({ type: 'symlink', linkname: '/etc/passwd' });
    expect(byName.get('ping')?.xattrs?.['security.capability']).toEqual(fsExtra().lgetxattr(join(upper, 'ping'), 'security.capability'));
    expect(entries.some((e) => Object.keys(e.xattrs ?? {}).some((k) => k.startsWith('trusted.')))).toBe(false);

    // Deterministic: the same upper gives the same bytes.
    expect((await collect(diffToTar(upper))).equals(tar)).toBe(true);

    // Overlay-mode apply rebuilds an equivalent upper (whiteout devices, opaque flag).
    const snapshot = join(dir, 'snapshot');
    await mkdir(snapshot);
    const applied = await applyTar(Readable.from([tar]), snapshot, { mode: 'overlay' });
    expect(applied.diffId).toBe(sha256Digest(tar));
    expect(await describeTree(snapshot)).toEqual(await describeTree(upper));
    expect(fsExtra().lgetxattr(join(snapshot, 'opaque'), 'trusted.overlay.opaque')?.toString()).toBe('y');

    // Plain-mode apply onto a copy of the lower reproduces what the merged view showed.
    const flat = join(dir, 'flat');
    execFileSync('cp', ['-a', lower, flat]);
    await applyTar(Readable.from([tar]), flat, { mode: 'plain' });
    expect(await describeTree(flat)).toEqual(flatExpected);
  });
});

describe('storeLayer', () => {
  it('computes diff_id and blob digest in one pass, stably', async () => {
    const tree = join(dir, 'tree');
    await mkdir(join(tree, 'a'), { recursive: true });
    await writeFile(join(tree, 'a', 'f'), 'x'.repeat(100_000));
    const content = openContentStore(join(dir, 'content'));
    const first = await storeLayer(content, diffToTar(tree));
    const tar = await collect(diffToTar(tree));
    expect(first.diffId).toBe(sha256Digest(tar));
    expect(first.uncompressedSize).toBe(tar.length);
    const blob = await readBlob(content, first.digest);
    expect(first.digest).toBe(sha256Digest(blob));
    expect(first.size).toBe(blob.length);
    expect(blob[0]).toBe(0x1f);
    expect(await storeLayer(content, diffToTar(tree))).toEqual(first);

    const plain = await storeLayer(content, diffToTar(tree), { compression: 'none' });
    expect(plain.digest).toBe(first.diffId);

    const asIs = await storeLayerAsIs(content, Readable.from([blob]));
    expect(asIs).toMatchObject({ digest: first.digest, diffId: first.diffId, compression: 'gzip' });
    // A corrupt compressed layer fails and leaves no ingest file behind.
    await expect(storeLayerAsIs(content, Readable.from([Buffer.from('BZh91AY&SYxxxxxxxx')]))).rejects.toThrow();
    expect(await readdir(join(dir, 'content', 'ingest'))).toEqual([]);
  });
});
