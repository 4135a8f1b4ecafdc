import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex, isDigest, type Digest } from '../content/digest.ts';
import { hasBlob, openContentStore, readBlob, writeFileAtomic, type ContentStore } from '../content/store.ts';
import { BuildError } from '../source/error.ts';
import { storeLayout } from '../store/layout.ts';
import { parseImageConfig, type ImageConfig } from './config.ts';
import { manifestBlobs, manifestMediaType, parseManifest, type ImageManifest } from './manifest.ts';
import { familiarName, normalizeName, parseReference } from './reference.ts';

/**
 * The local image store. Blobs (manifests, configs, layers) live in the content store; this keeps
 * small records beside it:
 *
 *   <root>/images/<manifest-hex>.json   { digest, mediaType, size, config, created }
 *   <root>/tags/<encoded name>.json     { name, digest }   one file per tag
 *
 * An image is named by its manifest digest; its config digest is Docker's "image ID" and
 * resolves too. One file per tag makes every tag change a single atomic rename, so concurrent
 * berth processes never lose each other's tags.
 */
export interface ImageStore {
  root: string;
  content: ContentStore;
}

export interface ImageRecord {
  /** Manifest digest: the image's identity here and in registries. */
  digest: Digest;
  mediaType: string;
  size: number;
  /** Config digest (what `docker images` shows as IMAGE ID). */
  config: Digest;
  /** When it entered this store (RFC 3339). */
  created: string;
}

export interface TagRecord {
  /** Fully normalised name with tag, e.g. `docker.io/library/busybox:local`. */
  name: string;
  digest: Digest;
}

export interface ResolvedImage {
  record: ImageRecord;
  /** Normalised names pointing at it. */
  names: string[];
  manifest: ImageManifest;
  config: ImageConfig;
}

/** `content` defaults to the store's own blobs (`<root>/blobs`), where every other caller keeps them. */
export function openImageStore(root: string, content: ContentStore = openContentStore(root)): ImageStore {
  return { root, content };
}

const imagesDir = (store: ImageStore) => storeLayout(store.root).images;
const tagsDir = (store: ImageStore) => storeLayout(store.root).tags;

function tagFile(store: ImageStore, name: string): string {
  const encoded = encodeURIComponent(name);
  // File names stop at 255 bytes; very long names are keyed by their hash (the file says the name).
  const key = encoded.length <= 200 ? encoded : `sha256-${createHash('sha256').update(name).digest('hex')}`;
  return join(tagsDir(store), `${key}.json`);
}

async function readJsonFiles<T>(dir: string): Promise<T[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const out: T[] = [];
  for (const name of names.filter((file) => file.endsWith('.json') && !file.startsWith('.')).sort()) {
    try {
      out.push(JSON.parse(await readFile(join(dir, name), 'utf8')) as T);
    } catch (error) {
      // Removed between readdir and read by a concurrent untag: not an error.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return out;
}

/**
 * Records an image whose manifest (and everything it references) is already in the content
 * store. Idempotent: the record is a pure function of the manifest, bar `created`.
 */
export async function putImage(store: ImageStore, manifestDigest: Digest): Promise<ImageRecord> {
  const bytes = await readBlob(store.content, manifestDigest);
  const manifest = parseManifest(bytes);
  for (const blob of manifestBlobs(manifest)) {
    if (!(await hasBlob(store.content, blob.digest))) throw new Error(`image ${manifestDigest} is missing blob ${blob.digest}`);
  }
  const existing = await getImageRecord(store, manifestDigest);
  if (existing) return existing;
  const record: ImageRecord = {
    digest: manifestDigest,
    mediaType: manifestMediaType(manifest),
    size: bytes.length,
    config: manifest.config.digest,
    created: new Date().toISOString(),
  };
  await writeFileAtomic(join(imagesDir(store), `${digestHex(manifestDigest)}.json`), `${JSON.stringify(record)}\n`);
  return record;
}

export async function getImageRecord(store: ImageStore, digest: Digest): Promise<ImageRecord | undefined> {
  try {
    return JSON.parse(readFileSync(join(imagesDir(store), `${digestHex(digest)}.json`), 'utf8')) as ImageRecord;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * The tag `name` (normalised), read from its own file; undefined when there is none. Tag and
 * image records are small: read synchronously, like blob documents (see readBlob).
 */
async function readTag(store: ImageStore, name: string): Promise<TagRecord | undefined> {
  try {
    const tag = JSON.parse(readFileSync(tagFile(store, name), 'utf8')) as TagRecord;
    return tag.name === name ? tag : undefined;
  } catch (error) {
    // Unreadable JSON counts as no tag, as listTags skips it.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

export async function listTags(store: ImageStore): Promise<TagRecord[]> {
  return (await readJsonFiles<TagRecord>(tagsDir(store))).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Points `name` (normalised, `latest` by default) at an image in the store. A tag that already
 * says exactly that is left alone (a no-op rebuild then writes and syncs nothing).
 */
export async function tagImage(store: ImageStore, name: string, digest: Digest): Promise<TagRecord> {
  const normalized = normalizeName(name);
  if (parseReference(normalized).digest !== undefined) throw new BuildError(`cannot tag with a digest reference: ${name}`);
  if (!(await getImageRecord(store, digest))) throw new Error(`no image ${digest} in the store`);
  const record: TagRecord = { name: normalized, digest };
  const file = tagFile(store, normalized);
  const text = `${JSON.stringify(record)}\n`;
  if (readTextOrUndefined(file) !== text) await writeFileAtomic(file, text);
  return record;
}

function readTextOrUndefined(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Removes a tag; false when there was none. */
export async function untagImage(store: ImageStore, name: string): Promise<boolean> {
  try {
    await unlink(tagFile(store, normalizeName(name)));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

export async function listImages(store: ImageStore): Promise<Array<ImageRecord & { names: string[] }>> {
  const records = await readJsonFiles<ImageRecord>(imagesDir(store));
  const tags = await listTags(store);
  return records.map((record) => ({ ...record, names: tags.filter((tag) => tag.digest === record.digest).map((tag) => tag.name) }));
}

/**
 * Finds the image a user means: a name (`busybox:local`, any spelling Docker accepts), a name
 * with `@digest`, a manifest or config digest, or a unique hex prefix of either (at least 4).
 */
export async function findImage(store: ImageStore, text: string): Promise<ImageRecord | undefined> {
  const hex = /^(?:sha256:)?([a-f0-9]{4,64})$/.exec(text);
  if (hex) {
    const prefix = hex[1];
    // A whole manifest digest names its record's file: no need to read every record (a build
    // resolves its base images by digest).
    if (prefix.length === 64) {
      const record = await getImageRecord(store, `sha256:${prefix}`);
      if (record) return record;
    }
    const records = await readJsonFiles<ImageRecord>(imagesDir(store));
    const matches = records.filter((r) => digestHex(r.digest).startsWith(prefix) || digestHex(r.config).startsWith(prefix));
    const unique = new Set(matches.map((r) => r.digest));
    if (unique.size === 1) return matches[0];
    if (unique.size > 1) throw new BuildError(`image ID ${text} is ambiguous: it matches ${unique.size} images`);
    if (prefix.length === 64 || text.startsWith('sha256:')) return undefined;
    // Four to 63 hex characters can also be a repository name (`docker.io/library/cafe`).
  }
  const ref = parseReference(text);
  if (ref.digest !== undefined) {
    if (!isDigest(ref.digest)) return undefined;
    return getImageRecord(store, ref.digest);
  }
  const tag = await readTag(store, normalizeName(text));
  return tag ? getImageRecord(store, tag.digest) : undefined;
}

/**
 * findImage plus the parsed manifest and config; undefined when nothing matches. With `names`
 * false, the names pointing at the image are not gathered (that reads every tag).
 */
export async function resolveImage(store: ImageStore, text: string, options: { names?: boolean } = {}): Promise<ResolvedImage | undefined> {
  const record = await findImage(store, text);
  if (!record) return undefined;
  return loadResolved(store, record, options);
}

export async function loadResolved(store: ImageStore, record: ImageRecord, options: { names?: boolean } = {}): Promise<ResolvedImage> {
  const manifest = parseManifest(await readBlob(store.content, record.digest));
  const config = parseImageConfig(await readBlob(store.content, manifest.config.digest));
  const names = options.names === false ? [] : (await listTags(store)).filter((tag) => tag.digest === record.digest).map((tag) => tag.name);
  return { record, names, manifest, config };
}

/** The normalised tag `text` names, or undefined when it is an ID or a digest reference. */
export function tagNameOf(text: string): string | undefined {
  try {
    return parseReference(text).digest === undefined ? normalizeName(text) : undefined;
  } catch {
    return undefined;
  }
}

export interface RemoveResult {
  untagged: string[];
  /** Set when the image record itself went (its blobs stay for the cache and other images). */
  deleted?: Digest;
}

/**
 * `docker rmi` semantics: removing by name untags, and deletes the image only when that was its
 * last name; removing by ID needs `force` when the image still has several names.
 */
export async function removeImage(store: ImageStore, text: string, options: { force?: boolean } = {}): Promise<RemoveResult> {
  const record = await findImage(store, text);
  if (!record) throw new BuildError(`no such image: ${text}`);
  const names = (await listTags(store)).filter((tag) => tag.digest === record.digest).map((tag) => tag.name);
  const asName = tagNameOf(text);
  let untagged: string[];
  if (asName !== undefined && names.includes(asName)) {
    await untagImage(store, asName);
    untagged = [asName];
    if (names.length > 1) return { untagged: untagged.map((n) => familiarName(n)) };
  } else {
    if (names.length > 1 && !options.force) {
      throw new BuildError(`image ${text} is referenced by ${names.map((n) => familiarName(n)).join(', ')}: remove them by name or force it`);
    }
    for (const name of names) await untagImage(store, name);
    untagged = names;
  }
  await unlink(join(imagesDir(store), `${digestHex(record.digest)}.json`)).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
  return { untagged: untagged.map((n) => familiarName(n)), deleted: record.digest };
}

/** Every blob some stored image needs, for a garbage collector that also knows the build cache. */
export async function referencedBlobs(store: ImageStore): Promise<Set<Digest>> {
  const out = new Set<Digest>();
  for (const record of await readJsonFiles<ImageRecord>(imagesDir(store))) {
    out.add(record.digest);
    try {
      for (const blob of manifestBlobs(parseManifest(await readBlob(store.content, record.digest)))) out.add(blob.digest);
    } catch {
      // A record whose manifest vanished still pins nothing else.
    }
  }
  return out;
}
