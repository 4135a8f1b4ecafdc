import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, mkdir, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BLOCK, encodeHeader, openDecompressed, packTar, readTar, sniffCompression, type TarHeader, type TarInput, type TarMember } from '../../src/layer/index.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-tar-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function pack(entries: TarInput[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of packTar(entries)) parts.push(part);
  return Buffer.concat(parts);
}

async function unpack(bytes: Buffer): Promise<Array<{ header: TarHeader; body: Buffer }>> {
  const out: Array<{ header: TarHeader; body: Buffer }> = [];
  // Feed in odd-sized chunks to exercise block reassembly.
  async function* chunks() {
    for (let i = 0; i < bytes.length; i += 777) yield bytes.subarray(i, i + 777);
  }
  for await (const { header, body } of readTar(chunks())) {
    const parts: Buffer[] = [];
    for await (const part of body) parts.push(part);
    out.push({ header, body: Buffer.concat(parts) });
  }
  return out;
}

const base = { mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000 };
const capability = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x80, 0x20, 0x00, 0x00, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

describe('tar codec', () => {
  it('round-trips every entry type and the awkward fields', async () => {
    const longName = `${'d'.repeat(120)}/${'f'.repeat(90)}`;
    const veryLong = `${'x'.repeat(300)}/file`;
    const entries: TarMember[] = [
      { header: { ...base, name: 'etc/', type: 'directory', mode: 0o1755 } },
      { header: { ...base, name: 'etc/passwd', type: 'file', size: 5, uid: 1000, gid: 1001 }, body: Buffer.from('root\n') },
      { header: { ...base, name: 'bin/ping', type: 'file', size: 1, mode: 0o4755, xattrs: { 'security.capability': capability } }, body: Buffer.from('p') },
      { header: { ...base, name: 'big-ids', type: 'file', uid: 4_000_000, gid: 70_000_000 } },
      { header: { ...base, name: 'bin/ping2', type: 'link', linkname: 'bin/ping' } },
      { header: { ...base, name: 'lnk', type: 'symlink', mode: 0o777, linkname: `/${'t'.repeat(150)}` } },
      { header: { ...base, name: 'dev/null', type: 'char', devmajor: 1, devminor: 3 } },
      { header: { ...base, name: 'dev/sda', type: 'block', devmajor: 8, devminor: 0 } },
      { header: { ...base, name: 'fifo', type: 'fifo' } },
      { header: { ...base, name: longName, type: 'file' } },
      { header: { ...base, name: veryLong, type: 'file' } },
      { header: { ...base, name: 'ünïcödé/名前', type: 'file' } },
    ];
    const bytes = await pack(entries);
    expect(bytes.length % BLOCK).toBe(0);
    const back = await unpack(bytes);
    expect(back.map((e) => e.header.name)).toEqual(entries.map((e) => e.header.name));
    for (const [i, { header }] of back.entries()) {
      const want = entries[i].header;
      expect(header.type).toBe(want.type);
      expect(header.mode).toBe(want.mode);
      expect(header.uid).toBe(want.uid);
      expect(header.gid).toBe(want.gid);
      expect(header.mtime).toBe(want.mtime);
      if (want.linkname) expect(header.linkname).toBe(want.linkname);
      if (want.devmajor !== undefined) expect([header.devmajor, header.devminor]).toEqual([want.devmajor, want.devminor]);
    }
    expect(back[1].body.toString()).toBe('root\n');
    expect(back[2].header.xattrs?.['security.capability']).toEqual(capability);
  });

  it('is deterministic: the same headers give the same bytes', async () => {
    const entries = (): TarInput[] => [
      { header: { ...base, name: 'a', type: 'file', size: 3, xattrs: { 'security.capability': capability } }, body: Buffer.from('abc') },
      { header: { ...base, name: 'b/', type: 'directory' } },
    ];
    expect((await pack(entries())).equals(await pack(entries()))).toBe(true);
  });

  it('refuses bodies that do not match their header size', async () => {
    await expect(pack([{ header: { ...base, name: 'a', type: 'file', size: 5 }, body: Buffer.from('abc') }])).rejects.toThrow(/header says 5/);
    await expect(pack([{ header: { ...base, name: 'a', type: 'file', size: 1 }, body: Buffer.from('abc') }])).rejects.toThrow(/longer than/);
  });

  it('writes archives GNU tar reads, xattrs included', async () => {
    const entries: TarInput[] = [
      { header: { ...base, name: 'dir/', type: 'directory', mode: 0o755 } },
      { header: { ...base, name: `dir/${'n'.repeat(150)}`, type: 'file', size: 2, uid: 3_000_000 }, body: Buffer.from('hi') },
      { header: { ...base, name: 'dir/cap', type: 'file', xattrs: { 'security.capability': capability } } },
    ];
    await writeFile(join(dir, 'a.tar'), await pack(entries));
    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', join(dir, 'a.tar')]).toString();
    expect(listing).toContain(`dir/${'n'.repeat(150)}`);
    expect(listing).toMatch(/3000000\/0/);
    const verbose = execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-tvvf', join(dir, 'a.tar')]).toString();
    expect(verbose).toMatch(/dir\/cap/);
  });

  it('reads GNU tar output (long names, symlinks, hardlinks, gzip)', async () => {
    const src = join(dir, 'src');
    const long = 'L'.repeat(180);
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'sub', long), 'long');
    await symlink(`../${'s'.repeat(120)}`, join(src, 'sub', 'link'));
    execFileSync('ln', [join(src, 'sub', long), join(src, 'hard')]);
    for (const format of ['gnu', 'posix', 'ustar']) {
      const file = join(dir, `${format}.tar`);
      try {
        execFileSync('tar', ['--format', format, '-C', src, '-cf', file, 'sub', 'hard'], { stdio: 'pipe' });
      } catch {
        continue; // ustar cannot hold the 180-character name; that is tar's refusal, not ours.
      }
      const entries = await unpack(await readFile(file));
      const byName = new Map(entries.map((e) => [e.header.name.replace(/\/$/, ''), e]));
      expect(byName.get(`sub/${long}`)?.body.toString()).toBe('long');
      expect(byName.get('sub/link')?.header.linkname).toBe(`../${'s'.repeat(120)}`);
      expect(byName.get('hard')?.header.type).toBe('link');
      expect(byName.get('hard')?.header.linkname).toBe(`sub/${long}`);
    }
    const gz = gzipSync(await readFile(join(dir, 'gnu.tar')));
    expect(sniffCompression(gz)).toBe('gzip');
    const { compression, stream } = await openDecompressed((async function* () {
      yield gz;
    })());
    expect(compression).toBe('gzip');
    let count = 0;
    for await (const entry of readTar(stream)) {
      count++;
      for await (const _ of entry.body);
    }
    expect(count).toBeGreaterThanOrEqual(3);
  });

  it('rejects corrupt headers and truncated archives', async () => {
    const good = await pack([{ header: { ...base, name: 'a', type: 'file', size: 600 }, body: Buffer.alloc(600) }]);
    const corrupt = Buffer.from(good);
    corrupt[10] ^= 0xff;
    await expect(unpack(corrupt)).rejects.toThrow(/checksum/);
    await expect(unpack(good.subarray(0, 700))).rejects.toThrow(/unexpected end/);
  });

  it('decompresses bzip2 and xz, and reports a corrupt stream', async () => {
    expect(sniffCompression(Buffer.from('BZh91AY'))).toBe('bzip2');
    expect(sniffCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))).toBe('xz');
    const text = 'layer bytes '.repeat(1000);
    for (const [tool, kind] of [['bzip2', 'bzip2'], ['xz', 'xz']] as const) {
      const packed = execFileSync(tool, ['-c'], { input: text });
      const { compression, stream } = await openDecompressed((async function* () { yield packed; })());
      expect(compression).toBe(kind);
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).toString()).toBe(text);
    }
    const corrupt = async () => {
      const { stream } = await openDecompressed((async function* () { yield Buffer.from('BZh91AY&SYxxxxxxxxxxxxxxxx'); })());
      for await (const _ of stream) { /* drain */ }
    };
    await expect(corrupt()).rejects.toThrow();
  });

  it('puts a pax header first only when needed', () => {
    expect(encodeHeader({ ...base, name: 'short', type: 'file' }).length).toBe(BLOCK);
    expect(encodeHeader({ ...base, name: 'x'.repeat(200), type: 'file' }).length).toBeGreaterThan(BLOCK * 2);
  });
});
