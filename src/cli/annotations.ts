import { normalizePlatform, TARGET_PLATFORM } from '../plan/index.ts';
import { BuildError } from '../source/index.ts';

/**
 * OCI annotations on a build's outputs, as BuildKit's image exporters take them
 * (`annotation.KEY=V`, `annotation-TYPE.KEY=V`, `annotation[PLATFORM].KEY=V` in `-o`) and as
 * buildx's `--annotation [TYPE[,TYPE...][[PLATFORM]]:]KEY=V` spells them. The types are BuildKit's:
 * `manifest` (the default), `manifest-descriptor` (the manifest's entry in an index: an archive's
 * index.json here), `index` and `index-descriptor`. berth builds one platform and never writes an
 * image index, so the last two fail as BuildKit fails them for a single-platform export.
 */
export interface ImageAnnotations {
  manifest: Record<string, string>;
  /** The manifest's descriptor in an index (an oci or docker archive's index.json). */
  manifestDescriptor: Record<string, string>;
}

const TYPES = ['manifest', 'manifest-descriptor', 'index', 'index-descriptor'] as const;
type AnnotationType = (typeof TYPES)[number];

export function noAnnotations(): ImageAnnotations {
  return { manifest: {}, manifestDescriptor: {} };
}

export function hasAnnotations(a: ImageAnnotations | undefined): boolean {
  return a !== undefined && (Object.keys(a.manifest).length > 0 || Object.keys(a.manifestDescriptor).length > 0);
}

/** `b` over `a`, key by key (a later flag wins, as in buildx). */
export function mergeAnnotations(a: ImageAnnotations | undefined, b: ImageAnnotations | undefined): ImageAnnotations {
  return {
    manifest: { ...a?.manifest, ...b?.manifest },
    manifestDescriptor: { ...a?.manifestDescriptor, ...b?.manifestDescriptor },
  };
}

function checkType(type: string, where: string): AnnotationType {
  if (!(TYPES as readonly string[]).includes(type)) {
    throw new BuildError(`unknown annotation type "${type}" in ${where} (${TYPES.join(', ')})`);
  }
  return type as AnnotationType;
}

/** A `[PLATFORM]` qualifier: berth's one platform, or an error naming the one asked for. */
function checkPlatform(platform: string | undefined, where: string): void {
  if (platform === undefined) return;
  if (!normalizePlatform(platform)) {
    throw new BuildError(`annotation for platform "${platform}" in ${where}: berth builds ${TARGET_PLATFORM} images only, so no manifest of that platform exists`);
  }
}

function place(into: ImageAnnotations, type: AnnotationType, key: string, value: string, where: string): void {
  if (key === '') throw new BuildError(`annotation with an empty key in ${where}`);
  if (type === 'index' || type === 'index-descriptor') {
    throw new BuildError(
      `index annotations not supported for single platform export (${where}): berth builds one platform (${TARGET_PLATFORM}) and writes no image index; `
      + `annotate the manifest (annotation.${key}) or its entry in an archive's index.json (annotation-manifest-descriptor.${key}) instead`,
    );
  }
  if (type === 'manifest') into.manifest[key] = value;
  else into.manifestDescriptor[key] = value;
}

const OUTPUT_KEY = /^annotation(?:-([a-z-]+))?(?:\[([A-Za-z0-9_/-]+)\])?\.(.*)$/s;

/** Whether an `-o` key is an annotation key (its form checked when it is parsed). */
export function isAnnotationKey(key: string): boolean {
  return key === 'annotation' || key.startsWith('annotation.') || key.startsWith('annotation-') || key.startsWith('annotation[');
}

/** One `-o` field `annotation[-TYPE][[PLATFORM]].KEY=VALUE` into `into`. */
export function parseOutputAnnotation(key: string, value: string, into: ImageAnnotations): void {
  const where = `--output key "${key}"`;
  const m = OUTPUT_KEY.exec(key);
  if (!m) throw new BuildError(`invalid annotation ${where}: want annotation[-TYPE][[PLATFORM]].KEY=VALUE`);
  const type = checkType(m[1] ?? 'manifest', where);
  checkPlatform(m[2], where);
  place(into, type, m[3], value, where);
}

const FLAG_TYPE = /^([a-z-]+)(?:\[([A-Za-z0-9_/-]+)\])?$/;

/**
 * buildx's `--annotation`: `KEY=VALUE` (the manifest), or `TYPES:KEY=VALUE` where TYPES is a comma
 * list of types each with an optional `[PLATFORM]` (`index,manifest:K=V`, `manifest[linux/amd64]:K=V`).
 */
export function parseAnnotationFlag(text: string, into: ImageAnnotations): void {
  const where = `--annotation "${text}"`;
  const eq = text.indexOf('=');
  if (eq < 0) throw new BuildError(`invalid annotation ${where}: want [TYPE:]KEY=VALUE`);
  const left = text.slice(0, eq);
  const value = text.slice(eq + 1);
  const colon = left.indexOf(':');
  if (colon < 0) {
    place(into, 'manifest', left, value, where);
    return;
  }
  const key = left.slice(colon + 1);
  for (const typeText of left.slice(0, colon).split(',')) {
    const m = FLAG_TYPE.exec(typeText);
    if (!m) throw new BuildError(`invalid annotation type "${typeText}" in ${where}: want a type and an optional platform in square brackets (manifest[linux/amd64])`);
    const type = checkType(m[1], where);
    checkPlatform(m[2], where);
    place(into, type, key, value, where);
  }
}

/** Every `--annotation` flag, in order. */
export function parseAnnotationFlags(texts: readonly string[]): ImageAnnotations {
  const out = noAnnotations();
  for (const text of texts) parseAnnotationFlag(text, out);
  return out;
}
