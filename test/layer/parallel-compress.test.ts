import { execFileSync } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { compressParallel, effectiveLevel, fixedChunks } from '../../src/layer/parallel-compress.ts';

const dir = mkdtempSync(join(tmpdir(), 'berth-pcompress-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Half text (compressible), half noise, in pieces of odd sizes so chunk cuts fall mid-piece. */
function sample(bytes: number): Buffer {
  const text = Buffer.from('berth compresses layers on every core; '.repeat(Math.ceil(bytes / 80)));
  const half = Math.floor(bytes / 2);
  return Buffer.concat([text.subarray(0, half), randomBytes(bytes - half)]);
}

function pieces(data: Buffer, size: number): Readable {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return Readable.from(out);
}

async function collect(gen: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const b of gen) out.push(b);
  return Buffer.concat(out);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('fixedChunks', () => {
  it('cuts at fixed offsets whatever the input pieces are', async () => {
    const data = sample(1000);
    const a = await collect(fixedChunks(pieces(data, 7), 64));
    const sizes: number[] = [];
    for await (const c of fixedChunks(pieces(data, 333), 64)) sizes.push(c.length);
    expect(a.equals(data)).toBe(true);
    expect(sizes).toEqual([...Array(15).fill(64), 1000 - 15 * 64]);
  });
});

describe('compressParallel', () => {
  const data = sample(3 * 1024 * 1024 + 12345);

  it('writes multi-member gzip that gzip -t and gunzip accept, the same bytes at any concurrency', async () => {
    const one = await collect(compressParallel(pieces(data, 65536), { compression: 'gzip', chunkSize: 256 * 1024, concurrency: 1 }));
    const four = await collect(compressParallel(pieces(data, 100_000), { compression: 'gzip', chunkSize: 256 * 1024, concurrency: 4 }));
    expect(sha(one)).toBe(sha(four));
    expect(gunzipSync(one).equals(data)).toBe(true);
    const file = join(dir, 'layer.tar.gz');
    writeFileSync(file, one);
    execFileSync('gzip', ['-t', file]);
    expect(execFileSync('sh', ['-c', `gzip -dc '${file}' | sha256sum`], { encoding: 'utf8' }).split(' ')[0]).toBe(sha(data));
    // 13 chunks of 256 KiB, 13 members, each a whole gzip stream of its own.
    const members: Buffer[] = [];
    for await (const m of compressParallel(pieces(data, 65536), { compression: 'gzip', chunkSize: 256 * 1024 })) members.push(m);
    expect(members.length).toBe(Math.ceil(data.length / (256 * 1024)));
    expect(gunzipSync(members[3]).equals(data.subarray(3 * 256 * 1024, 4 * 256 * 1024))).toBe(true);
  });

  it('writes multi-frame zstd that zstd -t accepts', async () => {
    const out = await collect(compressParallel(pieces(data, 65536), { compression: 'zstd', chunkSize: 512 * 1024, level: 5 }));
    expect(zstdDecompressSync(out).equals(data)).toBe(true);
    const file = join(dir, 'layer.tar.zst');
    writeFileSync(file, out);
    execFileSync('zstd', ['-q', '-t', file]);
    expect(execFileSync('sh', ['-c', `zstd -dc '${file}' | sha256sum`], { encoding: 'utf8' }).split(' ')[0]).toBe(sha(data));
  });

  it('levels change the output; an empty input is still a valid stream', async () => {
    const fast = await collect(compressParallel(pieces(data, 65536), { compression: 'gzip', level: 1 }));
    const best = await collect(compressParallel(pieces(data, 65536), { compression: 'gzip', level: 9 }));
    expect(sha(fast)).not.toBe(sha(best));
    expect(gunzipSync(fast).equals(data)).toBe(true);
    const empty = await collect(compressParallel(Readable.from([]), { compression: 'gzip' }));
    expect(gunzipSync(empty).length).toBe(0);
    const emptyZstd = await collect(compressParallel(Readable.from([]), { compression: 'zstd' }));
    expect(zstdDecompressSync(emptyZstd).length).toBe(0);
  });

  it('refuses levels out of range', () => {
    expect(effectiveLevel('gzip', undefined)).toBe(6);
    expect(effectiveLevel('zstd', undefined)).toBe(3);
    expect(() => effectiveLevel('gzip', 10)).toThrow(/0 to 9/);
    expect(() => effectiveLevel('zstd', 0)).toThrow(/1 to 22/);
    expect(() => effectiveLevel('gzip', 1.5)).toThrow();
  });

  it('passes a source error on', async () => {
    const failing = Readable.from((async function* () {
      yield Buffer.alloc(1000);
      throw new Error('disk went away');
    })());
    await expect(collect(compressParallel(failing, { compression: 'gzip', chunkSize: 100 }))).rejects.toThrow('disk went away');
  });
});
