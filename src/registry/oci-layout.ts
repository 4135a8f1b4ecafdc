import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createDigester, digestHex, parseDigest, type Digest } from '../content/digest.ts';
import { syncDir, writeFileAtomic } from '../content/store.ts';
import { Annotations, MediaTypes, type Descriptor } from '../image/descriptor.ts';
import { OCI_LAYOUT, parseIndex, type ImageIndex } from '../image/image-index.ts';

/**
 * An OCI image-layout directory (image-spec `image-layout.md`) used as a cache destination or
 * source: `oci-layout`, `index.json`, `blobs/sha256/<hex>`. Blobs are written to a temp name,
 * verified, fsynced and renamed, and `index.json` is replaced last and atomically, so a reader
 * of the directory never finds an index naming a blob that is not complete.
 */

export function layoutBlobPath(dir: string, digest: Digest | string): string {
  return join(dir, 'blobs', 'sha256', digestHex(parseDigest(digest)));
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Copies bytes into the layout under their digest unless already there; verifies digest and size. */
export async function writeLayoutBlob(dir: string, descriptor: Descriptor, source: Buffer | Readable): Promise<void> {
  const target = layoutBlobPath(dir, descriptor.digest);
  if (await exists(target)) {
    if (!Buffer.isBuffer(source)) source.destroy();
    return;
  }
  const blobDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  const temp = join(blobDir, `.${randomBytes(8).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', 0o644);
  const digester = createDigester();
  try {
    const chunks: AsyncIterable<Buffer> | Buffer[] = Buffer.isBuffer(source) ? [source] : source;
    for await (const chunk of chunks) {
      digester.update(chunk);
      await handle.write(chunk);
    }
    const digest = digester.digest();
    if (digest !== descriptor.digest || digester.size() !== descriptor.size) {
      throw new Error(`blob for ${descriptor.digest} (${descriptor.size} bytes) came out as ${digest} (${digester.size()} bytes)`);
    }
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await handle.close();
  await rename(temp, target);
  await syncDir(blobDir);
}

export async function openLayoutBlob(dir: string, digest: Digest): Promise<Readable> {
  const path = layoutBlobPath(dir, digest);
  if (!(await exists(path))) throw new Error(`OCI layout ${dir} lacks blob ${digest}`);
  return createReadStream(path);
}

export async function readLayoutBlob(dir: string, digest: Digest): Promise<Buffer> {
  try {
    return await readFile(layoutBlobPath(dir, digest));
  } catch {
    throw new Error(`OCI layout ${dir} lacks blob ${digest}`);
  }
}

/** The layout's index.json, or undefined when `dir` holds no layout. */
export async function readLayoutIndex(dir: string): Promise<ImageIndex | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, 'index.json'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return parseIndex(text);
}

/**
 * Names `descriptor` `refName` in the layout's index.json, replacing an entry of the same name
 * and keeping the others (a directory can hold several caches or images).
 */
export async function setLayoutRef(dir: string, refName: string, descriptor: Descriptor): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, 'oci-layout'), `${JSON.stringify(OCI_LAYOUT)}\n`);
  const current = await readLayoutIndex(dir);
  const kept = (current?.manifests ?? []).filter((m) => m.annotations?.[Annotations.refName] !== refName);
  const entry: Descriptor = { ...descriptor, annotations: { ...(descriptor.annotations ?? {}), [Annotations.refName]: refName } };
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [...kept, entry] };
  await writeFileAtomic(join(dir, 'index.json'), `${JSON.stringify(index)}\n`);
}

/** The entry named `refName`, else the last entry (the newest by convention), else undefined. */
export function findLayoutRef(index: ImageIndex, refName: string): Descriptor | undefined {
  return index.manifests.find((m) => m.annotations?.[Annotations.refName] === refName) ?? index.manifests.at(-1);
}
