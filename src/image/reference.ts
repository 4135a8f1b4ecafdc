import { BuildError } from '../source/error.ts';

/**
 * Image references as Docker normalises them (the distribution reference grammar plus Docker's
 * defaults): `busybox:local` → `docker.io/library/busybox:local`, `differ/p01` →
 * `docker.io/differ/p01:latest`, `localhost:5000/app@sha256:…` keeps its registry and digest.
 */
export interface ImageReference {
  /** Registry host, with port when given (`docker.io`, `localhost:5000`). */
  domain: string;
  /** Repository path (`library/busybox`). */
  path: string;
  tag?: string;
  digest?: string;
}

export const DEFAULT_DOMAIN = 'docker.io';
export const DEFAULT_TAG = 'latest';
const LEGACY_DOMAIN = 'index.docker.io';
const OFFICIAL_PREFIX = 'library/';

const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const PATH = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const ID = /^[a-f0-9]{64}$/;
const NAME_MAX = 255;

function invalid(text: string, why: string): BuildError {
  return new BuildError(`invalid reference format ${JSON.stringify(text)}: ${why}`);
}

/** Parses and normalises a reference, without adding a default tag. Throws BuildError. */
export function parseReference(text: string): ImageReference {
  if (text === '') throw invalid(text, 'empty name');
  if (ID.test(text)) throw invalid(text, 'cannot use a 64-character hexadecimal string as a name (is it an image ID?)');
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(text, `bad digest ${JSON.stringify(digest)}`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(text, `bad tag ${JSON.stringify(tag)}`);
  }
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (domain === LEGACY_DOMAIN) domain = DEFAULT_DOMAIN;
  if (!DOMAIN.test(domain)) throw invalid(text, `bad registry host ${JSON.stringify(domain)}`);
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_PREFIX + path;
  if (path !== path.toLowerCase() && PATH.test(path.toLowerCase())) throw invalid(text, 'repository name must be lowercase');
  if (!PATH.test(path)) throw invalid(text, `bad repository name ${JSON.stringify(path)}`);
  if (domain.length + 1 + path.length > NAME_MAX) throw invalid(text, `repository name longer than ${NAME_MAX} characters`);
  return { domain, path, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** Adds `latest` when the reference has neither tag nor digest, as `docker tag`/`build -t` do. */
export function withDefaultTag(ref: ImageReference): ImageReference {
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: DEFAULT_TAG } : ref;
}

/** `domain/path[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The fully normalised, tagged name: `busybox` → `docker.io/library/busybox:latest`. */
export function normalizeName(text: string): string {
  return formatReference(withDefaultTag(parseReference(text)));
}

/** The short form Docker prints and writes into archives (`busybox:local`, `differ/p01:latest`). */
export function familiarName(text: string | ImageReference): string {
  const ref = typeof text === 'string' ? parseReference(text) : text;
  let name = `${ref.domain}/${ref.path}`;
  if (ref.domain === DEFAULT_DOMAIN) {
    name = ref.path;
    const remainder = name.slice(OFFICIAL_PREFIX.length);
    if (name.startsWith(OFFICIAL_PREFIX) && !remainder.includes('/')) name = remainder;
  }
  return `${name}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** True for text that parses as a reference (no throw). */
export function isReference(text: string): boolean {
  try {
    parseReference(text);
    return true;
  } catch {
    return false;
  }
}
