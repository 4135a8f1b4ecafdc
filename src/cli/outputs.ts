import { createReadStream, mkdirSync, rmSync } from 'node:fs';
import { createWriteStream } from 'node:fs';
import { rename } from 'node:fs/promises';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../content/digest.ts';
import { distributionImage, type DistributionOptions } from '../image/distribute.ts';
import { parseCompression, parseLevel, type VariantCompression } from '../image/layer-variants.ts';
import { compressParallel } from '../layer/parallel-compress.ts';
import { parseKeyValues } from '../text/csv.ts';
import { BuildError } from '../source/index.ts';
import { hasAnnotations, isAnnotationKey, mergeAnnotations, noAnnotations, parseOutputAnnotation, type ImageAnnotations } from './annotations.ts';
import { blobPath } from '../content/index.ts';
import { saveDockerArchive, saveOciArchive } from '../image/archive-save.ts';
import { resolveImage } from '../image/store.ts';
import { applyTar } from '../layer/apply.ts';
import { dirToTar } from '../layer/diff.ts';
import { makeTempDir } from '../snapshot/snapshots.ts';
import type { Stores } from './store.ts';

export type OutputType = 'image' | 'docker' | 'oci' | 'local' | 'tar' | 'registry';

export interface OutputSpec {
  type: OutputType;
  /** A path, or `-` for standard output. */
  dest?: string;
  /** rewrite-timestamp=true: layer times after SOURCE_DATE_EPOCH become it (BuildKit's option). */
  rewriteTimestamp?: boolean;
  /** name=: more names for the image (comma-separated in BuildKit). */
  names?: string[];
  /** push=true (always for type=registry). */
  push?: boolean;
  /** Undefined: the type's default (gzip for pushes and archives). */
  compression?: VariantCompression;
  compressionLevel?: number;
  forceCompression?: boolean;
  /** oci-mediatypes=: undefined is the type's default (Docker types for type=docker only). */
  ociMediaTypes?: boolean;
  /** annotation.*, annotation-manifest*.* and --annotation (image, registry, docker and oci outputs). */
  annotations?: ImageAnnotations;
}

/** The outputs that write an image manifest, so take annotations (BuildKit's image exporters). */
export function takesAnnotations(type: OutputType): boolean {
  return type === 'image' || type === 'registry' || type === 'docker' || type === 'oci';
}

const LAYER_KEYS = ['name', 'compression', 'compression-level', 'force-compression', 'oci-mediatypes', 'rewrite-timestamp'];

/** The keys each exporter takes, as BuildKit documents them for the exporters berth has. */
const VALID_KEYS: Record<OutputType, string[]> = {
  image: ['type', 'push', ...LAYER_KEYS],
  registry: ['type', 'push', ...LAYER_KEYS],
  docker: ['type', 'dest', ...LAYER_KEYS],
  oci: ['type', 'dest', ...LAYER_KEYS],
  tar: ['type', 'dest', 'compression', 'compression-level'],
  local: ['type', 'dest'],
};

function parseBool(key: string, value: string): boolean {
  if (value !== 'true' && value !== 'false') throw new BuildError(`invalid ${key} "${value}" in --output (true or false)`);
  return value === 'true';
}

/**
 * `type=docker,dest=out.tar`; a bare path means type=local,dest=path and `-` a tar of the file
 * system on standard output, as in buildx. A key the type does not take is an error.
 */
export function parseOutput(spec: string): OutputSpec {
  if (spec === '-') return { type: 'tar', dest: '-', names: [], push: false, forceCompression: false };
  if (!spec.includes('=')) return { type: 'local', dest: spec, names: [], push: false, forceCompression: false };
  const out: Record<string, string> = {};
  const fields = parseKeyValues(spec);
  for (const { key, value } of fields) out[key] = value ?? 'true';
  const type = (out.type ?? 'local') as OutputType;
  if (!(type in VALID_KEYS)) throw new BuildError(`unsupported output type "${type}" (image, docker, oci, local, tar or registry)`);
  const annotations = noAnnotations();
  for (const { key, value } of fields) {
    if (takesAnnotations(type) && isAnnotationKey(key)) parseOutputAnnotation(key, value ?? '', annotations);
    else if (!VALID_KEYS[type].includes(key)) {
      const valid = [...VALID_KEYS[type], ...(takesAnnotations(type) ? ['annotation.KEY', 'annotation-manifest.KEY', 'annotation-manifest-descriptor.KEY'] : [])];
      throw new BuildError(`unknown key "${key}" for output type=${type} (valid: ${valid.join(', ')})`);
    }
  }
  if (type !== 'image' && type !== 'registry' && !out.dest) throw new BuildError(`output type=${type} needs dest=<path> (or dest=- for standard output)`);
  if (type === 'local' && out.dest === '-') throw new BuildError('output type=local cannot write to standard output: use type=tar,dest=-');
  const compression = out.compression === undefined ? undefined : parseCompression(out.compression);
  return {
    type, dest: out.dest,
    rewriteTimestamp: out['rewrite-timestamp'] === undefined ? false : parseBool('rewrite-timestamp', out['rewrite-timestamp']),
    names: (out.name ?? '').split(',').map((n) => n.trim()).filter((n) => n !== ''),
    push: type === 'registry' || (out.push !== undefined && parseBool('push', out.push)),
    compression,
    compressionLevel: out['compression-level'] === undefined ? undefined : parseLevel(out['compression-level'], compression),
    forceCompression: out['force-compression'] !== undefined && parseBool('force-compression', out['force-compression']),
    ociMediaTypes: out['oci-mediatypes'] === undefined ? undefined : parseBool('oci-mediatypes', out['oci-mediatypes']),
    ...(hasAnnotations(annotations) ? { annotations } : {}),
  };
}

/**
 * The build's outputs with `--annotation`'s added to every one that writes a manifest (a flag
 * wins over the same key in `-o`, as buildx sets it last); with no `-o`, the store's image is
 * the output and takes them.
 */
export function withAnnotationFlags(outputs: OutputSpec[], flags: ImageAnnotations): OutputSpec[] {
  if (!hasAnnotations(flags)) return outputs;
  if (outputs.length === 0) return [{ type: 'image', names: [], push: false, forceCompression: false, annotations: flags }];
  return outputs.map((o) => (takesAnnotations(o.type) ? { ...o, annotations: mergeAnnotations(o.annotations, flags) } : o));
}

/** How an output's layers leave the store: gzip and OCI types unless it says otherwise (type=docker: Docker types). */
export function distributionOf(output: OutputSpec): DistributionOptions {
  const docker = output.ociMediaTypes === undefined ? output.type === 'docker' : !output.ociMediaTypes;
  return {
    compression: output.compression ?? 'gzip', level: output.compressionLevel, force: output.forceCompression, family: docker ? 'docker' : 'oci',
    ...(output.annotations && Object.keys(output.annotations.manifest).length > 0 ? { annotations: output.annotations.manifest } : {}),
  };
}

/** Standard output for dest=-, refused when it is a terminal (an archive would garble it). */
function stdoutFor(type: string): Writable {
  if (process.stdout.isTTY) throw new BuildError(`refusing to write the type=${type} output to a terminal: redirect standard output or give dest=<path>`);
  return process.stdout;
}

/** The tar of a file system, compressed when asked, to a path or standard output. */
async function writeTar(temp: string, output: OutputSpec): Promise<void> {
  const tar = dirToTar(temp);
  const compression = output.compression ?? 'none';
  const source: Readable = compression === 'none' ? tar : Readable.from(compressParallel(tar, { compression, level: output.compressionLevel }));
  if (output.dest === '-') {
    await pipeline(source, stdoutFor('tar'), { end: false });
    return;
  }
  const dest = path.resolve(output.dest!);
  const partial = `${dest}.partial`;
  await pipeline(source, createWriteStream(partial));
  await rename(partial, dest);
}

/** Every layer applied in order into `dir`: the image's root file system as a plain tree. */
async function flatten(stores: Stores, manifestDigest: string, dir: string): Promise<void> {
  const image = await resolveImage(stores.images, manifestDigest);
  if (!image) throw new BuildError(`image ${manifestDigest} vanished from the store`);
  for (const layer of image.manifest.layers) {
    await applyTar(createReadStream(blobPath(stores.content, layer.digest)), dir, { mode: 'plain', layer: layer.digest });
  }
}

/** Writes the built image where `--output` says; type=image is the store itself. */
export async function exportImage(stores: Stores, manifestDigest: string, tags: string[], output: OutputSpec): Promise<void> {
  const names = [...new Set([...tags, ...(output.names ?? [])])];
  const saveNames = names.length ? names : [manifestDigest];
  const target = (type: string): string | Writable => (output.dest === '-' ? stdoutFor(type) : path.resolve(output.dest!));
  const convert = (digest: Digest) => distributionImage(stores, digest, distributionOf(output));
  switch (output.type) {
    case 'image':
    case 'registry': return; // The store is written anyway; registry pushes happen after export.
    case 'docker': return saveDockerArchive(stores.images, saveNames, target('docker'), { convert, descriptorAnnotations: output.annotations?.manifestDescriptor });
    case 'oci': return saveOciArchive(stores.images, saveNames, target('oci'), { convert, descriptorAnnotations: output.annotations?.manifestDescriptor });
    case 'local': {
      const dest = path.resolve(output.dest!);
      mkdirSync(dest, { recursive: true });
      return flatten(stores, manifestDigest, dest);
    }
    case 'tar': {
      const temp = makeTempDir(stores.layout, 'export');
      try {
        await flatten(stores, manifestDigest, temp);
        await writeTar(temp, output);
      } finally {
        rmSync(temp, { recursive: true, force: true });
      }
    }
  }
}
