import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digestHex, type Digest } from '../content/digest.ts';
import { blobPath } from '../content/store.ts';
import { BuildError } from '../source/error.ts';
import type { TarHeader } from '../layer/tar-format.ts';
import { tarStream, type TarInput } from '../layer/tar-io.ts';
import { Annotations, canonicalJson, type Descriptor } from './descriptor.ts';
import { OCI_LAYOUT, buildIndex } from './image-index.ts';
import type { ImageManifest } from './manifest.ts';
import { familiarName, parseReference } from './reference.ts';
import { findImage, loadResolved, tagNameOf, type ImageStore, type ResolvedImage } from './store.ts';

/**
 * Image archives. Both kinds are an OCI image layout in a tar (`oci-layout`, `index.json`,
 * `blobs/sha256/…`); the docker-archive adds Docker's `manifest.json` (Config, RepoTags, Layers
 * as paths into blobs/), the layout `docker save` writes since Docker 25 and that every
 * `docker load` reads. Output is deterministic: fixed entry order, times and owners.
 */
export interface DockerArchiveManifestEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
  LayerSources?: Record<string, Descriptor>;
}

interface Selected {
  image: ResolvedImage;
  manifestDescriptor: Descriptor;
  /** Fully normalised names the caller asked for that point at this image. */
  names: string[];
}

/** How each image goes into the archive: its outgoing manifest (compressed layers, one family). */
export type ArchiveConvert = (manifestDigest: Digest) => Promise<{ manifest: ImageManifest; descriptor: Descriptor }>;

export interface SaveOptions {
  /** Default: the stored manifest as it is. */
  convert?: ArchiveConvert;
  /** Added to each manifest's entry in index.json (BuildKit's annotation-manifest-descriptor.*). */
  descriptorAnnotations?: Record<string, string>;
}

/** Resolves the caller's names to images, grouping names that point at the same image. */
async function select(store: ImageStore, names: string[], convert?: ArchiveConvert): Promise<Selected[]> {
  if (names.length === 0) throw new BuildError('no images to save');
  const selected = new Map<Digest, Selected>();
  for (const text of names) {
    const record = await findImage(store, text);
    if (!record) throw new BuildError(`no such image: ${text}`);
    let entry = selected.get(record.digest);
    if (!entry) {
      let image = await loadResolved(store, record);
      let manifestDescriptor: Descriptor = { mediaType: record.mediaType, digest: record.digest, size: record.size };
      if (convert) {
        const out = await convert(record.digest);
        image = { ...image, manifest: out.manifest };
        manifestDescriptor = out.descriptor;
      }
      entry = { image, manifestDescriptor, names: [] };
      selected.set(record.digest, entry);
    }
    // A name the image carries is saved with it; an ID or digest saves it unnamed.
    const name = tagNameOf(text);
    if (name !== undefined && entry.image.names.includes(name) && !entry.names.includes(name)) entry.names.push(name);
  }
  return [...selected.values()];
}

const EPOCH = 0;

function dirEntry(name: string): TarInput {
  return { header: { name, type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: EPOCH } };
}

function fileEntry(name: string, bytes: Buffer): TarInput {
  return { header: { name, type: 'file', mode: 0o644, uid: 0, gid: 0, size: bytes.length, mtime: EPOCH }, body: bytes };
}

function blobEntry(store: ImageStore, descriptor: Descriptor): TarInput {
  const header: TarHeader = { name: `blobs/sha256/${digestHex(descriptor.digest)}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: descriptor.size, mtime: EPOCH };
  return { header, body: () => createReadStream(blobPath(store.content, descriptor.digest)) };
}

function indexEntries(selected: Selected[], extra: Record<string, string> = {}): Descriptor[] {
  const out: Descriptor[] = [];
  for (const { image, manifestDescriptor, names } of selected) {
    const platform = { architecture: image.config.architecture, os: image.config.os };
    if (names.length === 0) out.push({ ...manifestDescriptor, platform, ...(Object.keys(extra).length > 0 ? { annotations: { ...extra } } : {}) });
    for (const name of names) {
      const tag = parseReference(name).tag ?? 'latest';
      // The names are what loaders read to tag the image: a user's annotation does not replace them.
      out.push({ ...manifestDescriptor, platform, annotations: { ...extra, [Annotations.containerdName]: name, [Annotations.refName]: tag } });
    }
  }
  return out;
}

function archiveEntries(store: ImageStore, selected: Selected[], docker: boolean, extra?: Record<string, string>): TarInput[] {
  const blobs = new Map<Digest, Descriptor>();
  for (const { image, manifestDescriptor } of selected) {
    for (const descriptor of [image.manifest.config, ...image.manifest.layers, manifestDescriptor]) {
      if (!blobs.has(descriptor.digest)) blobs.set(descriptor.digest, descriptor);
    }
  }
  const entries: TarInput[] = [dirEntry('blobs/'), dirEntry('blobs/sha256/')];
  for (const descriptor of blobs.values()) entries.push(blobEntry(store, descriptor));
  entries.push(fileEntry('oci-layout', Buffer.from(canonicalJson(OCI_LAYOUT))));
  entries.push(fileEntry('index.json', Buffer.from(canonicalJson(buildIndex(indexEntries(selected, extra))))));
  if (docker) {
    const manifest: DockerArchiveManifestEntry[] = selected.map(({ image, names }) => ({
      Config: `blobs/sha256/${digestHex(image.manifest.config.digest)}`,
      RepoTags: names.length > 0 ? names.map((name) => familiarName(name)) : null,
      Layers: image.manifest.layers.map((layer) => `blobs/sha256/${digestHex(layer.digest)}`),
    }));
    entries.push(fileEntry('manifest.json', Buffer.from(JSON.stringify(manifest))));
  }
  return entries;
}

/** Writes a tar to a path (via a temp name, renamed when complete) or into a stream. */
async function writeArchive(entries: TarInput[], out: string | Writable): Promise<void> {
  if (typeof out !== 'string') {
    await pipeline(tarStream(entries), out);
    return;
  }
  const temp = `${out}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await pipeline(tarStream(entries), createWriteStream(temp, { mode: 0o644 }));
    await rename(temp, out);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

/** `docker save`: a docker-archive that is also an OCI layout. */
export async function saveDockerArchive(store: ImageStore, names: string[], out: string | Writable, options: SaveOptions = {}): Promise<void> {
  await writeArchive(archiveEntries(store, await select(store, names, options.convert), true, options.descriptorAnnotations), out);
}

/** An OCI image layout as a tar (`oci-archive:` for skopeo, podman and umoci after unpacking). */
export async function saveOciArchive(store: ImageStore, names: string[], out: string | Writable, options: SaveOptions = {}): Promise<void> {
  await writeArchive(archiveEntries(store, await select(store, names, options.convert), false, options.descriptorAnnotations), out);
}
