import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cachedFileDigest, openStatCache } from '../../src/context/stat-cache.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-statcache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('file digests', () => {
  // Sizes around the 1 MiB read buffer: empty, small, exactly one buffer, one byte more, several.
  it.each([0, 1, 10_000, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 12345])('hashes a %i-byte file exactly, with and without a cache', async (size) => {
    const data = randomBytes(size);
    const file = path.join(dir, `f${size}`);
    writeFileSync(file, data);
    expect(await cachedFileDigest(undefined, file)).toBe(sha256(data));
    const cache = openStatCache(path.join(dir, 'cache'), dir);
    expect(await cachedFileDigest(cache, file)).toBe(sha256(data));
  });

  it('keeps concurrent digests apart (the read buffer is shared)', async () => {
    const files = [5, 2 << 20, 70_000, (1 << 20) + 7].map((size, i) => {
      const data = randomBytes(size);
      const file = path.join(dir, `c${i}`);
      writeFileSync(file, data);
      return { file, want: sha256(data) };
    });
    const got = await Promise.all(files.map((f) => cachedFileDigest(undefined, f.file)));
    expect(got).toEqual(files.map((f) => f.want));
  });
});
