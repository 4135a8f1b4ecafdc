import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BlobNotFoundError,
  BlobVerifyError,
  DigestError,
  blobPath,
  blobSize,
  deleteBlob,
  hasBlob,
  listBlobs,
  openBlob,
  openBlobWriter,
  openContentStore,
  parseDigest,
  readBlob,
  sha256Digest,
  writeBlob,
  writeFileAtomic,
  type ContentStore,
} from '../../src/content/index.ts';

let root: string;
let store: ContentStore;

/** Whether a stored blob's bytes still hash to its name. */
async function verified(content: ContentStore, digest: string): Promise<boolean> {
  return sha256Digest(await readBlob(content, digest)) === parseDigest(digest);
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-content-'));
  store = openContentStore(root);
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function ingestFiles(): Promise<string[]> {
  return readdir(join(root, 'ingest')).catch(() => []);
}

describe('digests', () => {
  it('accepts sha256 and explains everything else', () => {
    const digest = sha256Digest('hello');
    expect(digest).toBe('sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
    expect(parseDigest(digest)).toBe(digest);
    expect(() => parseDigest('sha512:abcd')).toThrow(/unsupported digest algorithm sha512/);
    expect(() => parseDigest('sha256:ABC')).toThrow(DigestError);
    expect(() => parseDigest('nonsense')).toThrow(/invalid digest/);
  });
});

describe('content store', () => {
  it('writes, reads, sizes, lists and deletes blobs', async () => {
    const info = await writeBlob(store, 'hello');
    expect(info).toEqual({ digest: sha256Digest('hello'), size: 5 });
    expect(blobPath(store, info.digest)).toBe(join(root, 'blobs', 'sha256', info.digest.slice(7)));
    expect(await hasBlob(store, info.digest)).toBe(true);
    expect(await blobSize(store, info.digest)).toBe(5);
    expect((await readBlob(store, info.digest)).toString()).toBe('hello');
    const chunks: Buffer[] = [];
    for await (const chunk of await openBlob(store, info.digest)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('hello');
    expect(await verified(store, info.digest)).toBe(true);

    const other = await writeBlob(store, Buffer.from('world'));
    expect(await listBlobs(store)).toEqual([info.digest, other.digest].sort());
    expect(await deleteBlob(store, info.digest)).toBe(true);
    expect(await deleteBlob(store, info.digest)).toBe(false);
    expect(await hasBlob(store, info.digest)).toBe(false);
    expect(await blobSize(store, info.digest)).toBeUndefined();
    await expect(readBlob(store, info.digest)).rejects.toBeInstanceOf(BlobNotFoundError);
    await expect(openBlob(store, info.digest)).rejects.toBeInstanceOf(BlobNotFoundError);
    expect(await ingestFiles()).toEqual([]);
  });

  it('streams from async iterables', async () => {
    async function* parts() {
      for (let i = 0; i < 100; i++) yield Buffer.alloc(10_000, i);
    }
    const info = await writeBlob(store, parts());
    expect(info.size).toBe(1_000_000);
    const expected = Buffer.concat(Array.from({ length: 100 }, (_, i) => Buffer.alloc(10_000, i)));
    expect(info.digest).toBe(sha256Digest(expected));
  });

  it('verifies an expected digest and size, leaving nothing behind on mismatch', async () => {
    const good = sha256Digest('abc');
    expect((await writeBlob(store, 'abc', { digest: good, size: 3 })).digest).toBe(good);
    await expect(writeBlob(store, 'abd', { digest: sha256Digest('xyz') })).rejects.toBeInstanceOf(BlobVerifyError);
    await expect(writeBlob(store, 'abc', { digest: good, size: 4 })).rejects.toThrow(/size mismatch/);
    expect(await hasBlob(store, sha256Digest('abd'))).toBe(false);
    expect(await listBlobs(store)).toEqual([good]);
    expect(await ingestFiles()).toEqual([]);
  });

  it('writes nothing for bytes whose digest is already stored, but still verifies them', async () => {
    const info = await writeBlob(store, 'again');
    // An ingest path that cannot be used: any attempt to write would fail.
    await rm(join(root, 'ingest'), { recursive: true, force: true });
    await writeFile(join(root, 'ingest'), 'not a directory');
    expect(await writeBlob(store, 'again', { digest: info.digest, size: 5 })).toEqual(info);
    expect(await writeBlob(store, Buffer.from('again'))).toEqual(info);
    await expect(writeBlob(store, 'again', { size: 6 })).rejects.toThrow(/size mismatch/);
    await expect(writeBlob(store, 'again', { digest: sha256Digest('other') })).rejects.toBeInstanceOf(BlobVerifyError);
    await expect(writeBlob(store, 'new bytes')).rejects.toThrow();
    expect((await readBlob(store, info.digest)).toString()).toBe('again');
  });

  it('never shows a blob before commit, and abort discards it', async () => {
    const writer = await openBlobWriter(store);
    await writer.write(Buffer.from('partial'));
    expect(writer.size()).toBe(7);
    expect(await listBlobs(store)).toEqual([]);
    expect(await hasBlob(store, sha256Digest('partial'))).toBe(false);
    await writer.abort();
    expect(await ingestFiles()).toEqual([]);
    await expect(writer.commit()).rejects.toThrow(/already committed or aborted/);
  });

  it('lets concurrent writers of the same content both succeed', async () => {
    const data = Buffer.alloc(256 * 1024, 7);
    const results = await Promise.all(Array.from({ length: 8 }, () => writeBlob(store, data)));
    expect(new Set(results.map((r) => r.digest)).size).toBe(1);
    expect(await listBlobs(store)).toEqual([sha256Digest(data)]);
    expect(await verified(store, sha256Digest(data))).toBe(true);
    expect(await ingestFiles()).toEqual([]);
  });

  it('aborts when the source fails midway', async () => {
    async function* failing() {
      yield Buffer.from('some');
      throw new Error('source broke');
    }
    await expect(writeBlob(store, failing())).rejects.toThrow('source broke');
    expect(await listBlobs(store)).toEqual([]);
    expect(await ingestFiles()).toEqual([]);
  });
});

describe('writeFileAtomic', () => {
  it('replaces a file whole and leaves no temp files', async () => {
    const path = join(root, 'deep', 'tags.json');
    await writeFileAtomic(path, 'one');
    await writeFileAtomic(path, 'two');
    expect(await readFile(path, 'utf8')).toBe('two');
    expect(await readdir(join(root, 'deep'))).toEqual(['tags.json']);
  });
});
