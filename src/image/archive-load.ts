import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDigestTap, digestFromHex, type Digest } from '../content/digest.ts';
import { openBlob, readBlob, writeBlob, type BlobInfo } from '../content/store.ts';
import { openDecompressed } from '../layer/compression.ts';
import { cleanMemberPath } from '../layer/scope.ts';
import { readTar } from '../layer/tar-io.ts';
import { BuildError } from '../source/error.ts';
import { InvalidImageError, parseImageConfig, type ContainerConfig, type HistoryEntry, type ImageConfig } from './config.ts';
import { Annotations, MediaTypes, isIndexMediaType, layerMediaType, type Descriptor } from './descriptor.ts';
import { parseIndex, selectPlatform } from './image-index.ts';
import { writeImage, writeManifestFor } from './commit.ts';
import { parseJsonDocument } from './manifest.ts';
import { isReference, normalizeName } from './reference.ts';
import { putImage, tagImage, type ImageStore } from './store.ts';

/**
 * `docker load`: reads a docker-archive (Docker 1.10–24's `manifest.json` + `<id>/layer.tar`,
 * Docker 25's blobs layout, or the pre-1.10 `repositories` + `<id>/json` chain) or an OCI
 * archive (`index.json`), plain or compressed, in one streaming pass. Blobs go straight into the
 * content store (verified against their names where the path is a digest); small metadata files
 * are kept in memory. Layers of Docker's own formats are checked against the config's diff_ids.
 */
export interface LoadedImage {
  digest: Digest;
  names: string[];
}

const METADATA_MAX = 16 * 1024 * 1024;
const BLOB_PATH = /^blobs\/sha256\/([a-f0-9]{64})$/;

interface ArchiveContents {
  /** Small JSON-ish files, by clean path. */
  metadata: Map<string, Buffer>;
  /** Everything else, stored: clean path → blob. */
  blobs: Map<string, BlobInfo>;
  /** Symlinks and hardlinks between members: path → target path. */
  aliases: Map<string, string>;
}

function isMetadataPath(path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.endsWith('.json') || base === 'json' || base === 'repositories' || base === 'oci-layout' || base === 'VERSION';
}

async function readArchive(store: ImageStore, source: Readable): Promise<ArchiveContents> {
  const contents: ArchiveContents = { metadata: new Map(), blobs: new Map(), aliases: new Map() };
  const { stream } = await openDecompressed(source);
  for await (const { header, body } of readTar(stream)) {
    const path = cleanMemberPath(header.name);
    if (header.type === 'symlink' || header.type === 'link') {
      const target = header.type === 'symlink' && !header.linkname?.startsWith('/') ? `${path.slice(0, path.lastIndexOf('/') + 1)}${header.linkname}` : header.linkname ?? '';
      contents.aliases.set(path, cleanMemberPath(target));
      continue;
    }
    if (header.type !== 'file') continue;
    const named = BLOB_PATH.exec(path);
    if (named) {
      contents.blobs.set(path, await writeBlob(store.content, body, { digest: digestFromHex(named[1]), size: header.size }));
    } else if (isMetadataPath(path) && header.size <= METADATA_MAX) {
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk);
      contents.metadata.set(path, Buffer.concat(chunks));
    } else {
      contents.blobs.set(path, await writeBlob(store.content, body));
    }
  }
  return contents;
}

function follow(contents: ArchiveContents, path: string): string {
  let current = cleanMemberPath(path);
  for (let hops = 0; contents.aliases.has(current); hops++) {
    if (hops > 16) throw new InvalidImageError(`archive member ${path} is a link loop`);
    current = contents.aliases.get(current)!;
  }
  return current;
}

/** A member's bytes as a stored blob (metadata files are stored on demand). */
async function memberBlob(store: ImageStore, contents: ArchiveContents, path: string): Promise<BlobInfo> {
  const real = follow(contents, path);
  const stored = contents.blobs.get(real);
  if (stored) return stored;
  const bytes = contents.metadata.get(real);
  if (!bytes) throw new InvalidImageError(`archive lacks ${path}`);
  return writeBlob(store.content, bytes);
}

async function memberBytes(store: ImageStore, contents: ArchiveContents, path: string): Promise<Buffer> {
  const real = follow(contents, path);
  return contents.metadata.get(real) ?? readBlob(store.content, (await memberBlob(store, contents, real)).digest);
}

/** Describes a stored layer blob, measuring what it is compressed with and its diff_id. */
async function describeLayer(store: ImageStore, blob: BlobInfo): Promise<Descriptor & { diffId: Digest }> {
  const { compression, stream } = await openDecompressed(await openBlob(store.content, blob.digest));
  let diffId = blob.digest;
  if (compression === 'none') stream.destroy();
  else {
    const tap = createDigestTap();
    await pipeline(stream, tap.stream, async (bytes: AsyncIterable<Uint8Array>) => {
      for await (const _ of bytes);
    });
    diffId = tap.result().digest;
  }
  return { mediaType: layerMediaType(compression as 'none' | 'gzip' | 'zstd'), digest: blob.digest, size: blob.size, diffId };
}

function addName(names: Map<Digest, string[]>, digest: Digest, name: string): void {
  const normalized = normalizeName(name);
  const list = names.get(digest) ?? [];
  if (!list.includes(normalized)) list.push(normalized);
  names.set(digest, list);
}

/** Images listed by an OCI `index.json`; names from containerd's or the OCI ref annotation. */
async function loadFromIndex(store: ImageStore, contents: ArchiveContents, names: Map<Digest, string[]>): Promise<Digest[]> {
  const index = parseIndex(contents.metadata.get('index.json')!);
  const loaded: Digest[] = [];
  for (const entry of index.manifests) {
    let manifest = entry;
    if (isIndexMediaType(entry.mediaType)) {
      const chosen = selectPlatform(parseIndex(await readBlob(store.content, entry.digest)));
      if (!chosen) throw new BuildError(`archive image ${entry.digest} has no linux/amd64 manifest`);
      manifest = chosen;
    }
    const record = await putImage(store, manifest.digest);
    loaded.push(record.digest);
    const full = entry.annotations?.[Annotations.containerdName];
    const ref = entry.annotations?.[Annotations.refName];
    // A bare ref.name (`latest`) is only a tag: without a repository it names nothing.
    if (full && isReference(full)) addName(names, record.digest, full);
    else if (ref && /[:/]/.test(ref) && isReference(ref)) addName(names, record.digest, ref);
  }
  return loaded;
}

interface DockerManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** Images listed by Docker's `manifest.json`; layers checked against the config's diff_ids. */
async function loadFromDockerManifest(store: ImageStore, contents: ArchiveContents, names: Map<Digest, string[]>, known: Map<Digest, Digest>): Promise<Digest[]> {
  const entries = JSON.parse(contents.metadata.get('manifest.json')!.toString()) as DockerManifestEntry[];
  if (!Array.isArray(entries)) throw new InvalidImageError('manifest.json is not a list');
  const loaded: Digest[] = [];
  for (const entry of entries) {
    const configBlob = await memberBlob(store, contents, entry.Config);
    let digest = known.get(configBlob.digest);
    if (digest === undefined) {
      const config = parseImageConfig(await readBlob(store.content, configBlob.digest));
      if (config.rootfs.diff_ids.length !== entry.Layers.length) {
        throw new InvalidImageError(`${entry.Config} lists ${config.rootfs.diff_ids.length} diff_ids for ${entry.Layers.length} layers`);
      }
      const layers: Descriptor[] = [];
      for (const [i, path] of entry.Layers.entries()) {
        const { diffId, ...layer } = await describeLayer(store, await memberBlob(store, contents, path));
        if (diffId !== config.rootfs.diff_ids[i]) throw new InvalidImageError(`layer ${path} has diff_id ${diffId}, but the config says ${config.rootfs.diff_ids[i]}`);
        layers.push(layer);
      }
      const configDescriptor = { mediaType: MediaTypes.ociConfig, digest: configBlob.digest, size: configBlob.size };
      digest = (await writeManifestFor(store, configDescriptor, layers)).record.digest;
    }
    loaded.push(digest);
    for (const tag of entry.RepoTags ?? []) addName(names, digest, tag);
  }
  return loaded;
}

interface V1LayerJson {
  id: string;
  parent?: string;
  created?: string;
  architecture?: string;
  os?: string;
  config?: ContainerConfig;
  container_config?: { Cmd?: string[] };
  comment?: string;
  author?: string;
}

/** Pre-1.10 archives: `repositories` names top layer ids; `<id>/json` chains to the base. */
async function loadFromRepositories(store: ImageStore, contents: ArchiveContents, names: Map<Digest, string[]>): Promise<Digest[]> {
  const repositories = parseJsonDocument(contents.metadata.get('repositories')!, 'repositories') as Record<string, Record<string, string>>;
  const loaded: Digest[] = [];
  for (const [repo, tags] of Object.entries(repositories)) {
    for (const [tag, top] of Object.entries(tags)) {
      const chain: V1LayerJson[] = [];
      for (let id: string | undefined = top; id; ) {
        if (chain.length > 1000) throw new InvalidImageError('layer chain too long (a loop?)');
        const json = JSON.parse((await memberBytes(store, contents, `${id}/json`)).toString()) as V1LayerJson;
        chain.unshift(json);
        id = json.parent;
      }
      const layers: Array<Descriptor & { diffId: Digest }> = [];
      for (const layer of chain) layers.push(await describeLayer(store, await memberBlob(store, contents, `${layer.id}/layer.tar`)));
      const head = chain[chain.length - 1];
      const history: HistoryEntry[] = chain.map((layer) => ({
        ...(layer.created ? { created: layer.created } : {}),
        created_by: (layer.container_config?.Cmd ?? []).join(' '),
        ...(layer.comment ? { comment: layer.comment } : {}),
      }));
      const config: ImageConfig = {
        ...(head.created ? { created: head.created } : {}),
        architecture: head.architecture ?? 'amd64',
        os: head.os ?? 'linux',
        config: head.config ?? {},
        rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
        history,
      };
      const written = await writeImage(store, config, layers.map(({ diffId, ...layer }) => ({ ...layer, diffId })));
      loaded.push(written.record.digest);
      addName(names, written.record.digest, `${repo}:${tag}`);
    }
  }
  return loaded;
}

/** Loads every image of an archive file (or stream) into the store and tags it. */
export async function loadArchive(store: ImageStore, source: string | Readable): Promise<LoadedImage[]> {
  const contents = await readArchive(store, typeof source === 'string' ? createReadStream(source) : source);
  const names = new Map<Digest, string[]>();
  let loaded: Digest[];
  if (contents.metadata.has('index.json')) {
    loaded = await loadFromIndex(store, contents, names);
    // Docker 25 archives carry both; manifest.json may name images the index leaves unnamed.
    if (contents.metadata.has('manifest.json')) {
      const byConfig = new Map<Digest, Digest>();
      for (const digest of loaded) {
        const manifest = JSON.parse((await readBlob(store.content, digest)).toString()) as { config: Descriptor };
        byConfig.set(manifest.config.digest, digest);
      }
      await loadFromDockerManifest(store, contents, names, byConfig);
    }
  } else if (contents.metadata.has('manifest.json')) {
    loaded = await loadFromDockerManifest(store, contents, names, new Map());
  } else if (contents.metadata.has('repositories')) {
    loaded = await loadFromRepositories(store, contents, names);
  } else {
    throw new BuildError('not an image archive: no index.json, manifest.json or repositories');
  }
  const out: LoadedImage[] = [];
  for (const digest of [...new Set(loaded)]) {
    for (const name of names.get(digest) ?? []) await tagImage(store, name, digest);
    out.push({ digest, names: names.get(digest) ?? [] });
  }
  return out;
}
