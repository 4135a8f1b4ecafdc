import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packTar, type TarInput, type TarMember } from '../../src/layer/tar-io.ts';
import { describeMember, openSpliceReader } from '../../src/layer/splice.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-splice-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = { mode: 0o644, uid: 0, gid: 0, mtime: 1700000000 };

async function packed(members: TarInput[]): Promise<{ bytes: Buffer; where: Map<string, [number, number]> }> {
  const where = new Map<string, [number, number]>();
  const chunks: Buffer[] = [];
  for await (const chunk of packTar(members, { onEntry: (name, offset, length) => where.set(name, [offset, length]) })) chunks.push(chunk);
  return { bytes: Buffer.concat(chunks), where };
}

describe('layer splice', () => {
  const long = `${'deep/'.repeat(40)}file.txt`;
  const members: TarMember[] = [
    { header: { ...base, name: 'dir/', type: 'directory', size: 0 } },
    { header: { ...base, name: 'dir/a.txt', type: 'file', size: 5 }, body: Buffer.from('hello') },
    { header: { ...base, name: long, type: 'file', size: 3 }, body: Buffer.from('abc') },
    { header: { ...base, name: 'dir/b.txt', type: 'file', size: 1000, xattrs: { 'security.capability': Buffer.from([1, 2, 3]) } }, body: Buffer.alloc(1000, 7) },
  ];

  it('records where every member went, and copies members back byte for byte', async () => {
    const { bytes, where } = await packed(members);
    const blob = path.join(dir, 'layer.tar');
    writeFileSync(blob, bytes);
    expect(describeMember(bytes.subarray(where.get(long)![0]))).toEqual({ name: long, length: where.get(long)![1], typeflag: '0' });
    const reader = openSpliceReader({ blob, members: where, same: new Set() });
    try {
      for (const name of ['dir/a.txt', long, 'dir/b.txt']) {
        const [offset, length] = where.get(name)!;
        expect(reader.member(name)).toEqual(bytes.subarray(offset, offset + length));
      }
      expect(reader.member('missing')).toBeUndefined();
    } finally {
      reader.close();
    }
    // A new archive made of spliced members equals one made from the headers and bodies.
    const reader2 = openSpliceReader({ blob, members: where, same: new Set() });
    const again = await packed([members[0], { name: 'dir/a.txt', raw: () => reader2.member('dir/a.txt')! }, members[2], members[3]]);
    reader2.close();
    expect(again.bytes.equals(bytes)).toBe(true);
  });

  it('fails on a stale offset instead of copying the wrong bytes', async () => {
    const { bytes, where } = await packed(members);
    const blob = path.join(dir, 'stale.tar');
    writeFileSync(blob, bytes);
    const stale = new Map(where);
    stale.set('dir/a.txt', where.get('dir/b.txt')!);
    const reader = openSpliceReader({ blob, members: stale, same: new Set() });
    try {
      expect(() => reader.member('dir/a.txt')).toThrow(/layer splice/);
      const [offset, length] = where.get('dir/b.txt')!;
      stale.set('dir/b.txt', [offset, length + 512]);
      expect(() => reader.member('dir/b.txt')).toThrow(/layer splice/);
    } finally {
      reader.close();
    }
  });
});
