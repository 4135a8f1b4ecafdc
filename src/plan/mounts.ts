import path from 'node:path';
import { BuildError, type SourceRange } from '../source/index.ts';
import type { FileSource, RunMount } from './types.ts';

/** Resolves `from=` of a mount: a stage name or index, else an image reference. */
export type FromResolver = (from: string, range: SourceRange) => FileSource;

/** Splits a CSV field list the way Go's encoding/csv does for one record (quotes allowed). */
export function splitCsv(text: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') { fields.push(field); field = ''; }
    else field += c;
  }
  fields.push(field);
  return fields;
}

function parseBool(value: string | undefined): boolean | undefined {
  if (value === undefined || value === '') return true;
  const v = value.toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  return undefined;
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

/** `RUN --mount=...` to a mount description; BuildKit's defaults per type. */
export function parseMount(text: string, range: SourceRange, source: string, resolveFrom: FromResolver): RunMount {
  const fail = (message: string): never => { throw new BuildError(message, range, { source }); };
  const fields = splitCsv(text).filter((f) => f !== '');
  const values = new Map<string, string | undefined>();
  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    values.set(key, eq < 0 ? undefined : field.slice(eq + 1));
  }
  const type = (values.get('type') ?? 'bind') as RunMount['type'];
  if (!['bind', 'cache', 'tmpfs', 'secret', 'ssh'].includes(type)) fail(`unsupported mount type "${type}"`);
  const mount: RunMount = { type, target: '', readonly: type === 'bind' || type === 'secret' || type === 'ssh', range };
  for (const [key, value] of values) {
    switch (key) {
      case 'type': break;
      case 'target': case 'dst': case 'destination': mount.target = value ?? ''; break;
      case 'source': case 'src': mount.source = value ?? ''; break;
      case 'from': mount.from = resolveFrom(value ?? '', range); break;
      case 'ro': case 'readonly': {
        const b = parseBool(value);
        if (b === undefined) fail(`invalid value for ${key}: ${value}`);
        mount.readonly = b as boolean;
        break;
      }
      case 'rw': case 'readwrite': {
        const b = parseBool(value);
        if (b === undefined) fail(`invalid value for ${key}: ${value}`);
        mount.readonly = !b;
        break;
      }
      case 'id': mount.id = value; break;
      case 'sharing':
        if (!['shared', 'private', 'locked'].includes(value ?? '')) fail(`unsupported sharing value "${value}"`);
        mount.sharing = value as RunMount['sharing'];
        break;
      case 'mode': {
        if (!/^[0-7]+$/.test(value ?? '')) fail(`invalid mode "${value}" (octal expected)`);
        mount.mode = parseInt(value as string, 8);
        break;
      }
      case 'uid': case 'gid': {
        if (!/^\d+$/.test(value ?? '')) fail(`invalid ${key} "${value}"`);
        mount[key] = Number(value);
        break;
      }
      case 'size': {
        const m = /^(\d+)([a-z]*)$/i.exec(value ?? '');
        if (!m || SIZE_UNITS[m[2].toLowerCase()] === undefined) fail(`invalid size "${value}"`);
        mount.size = Number(m![1]) * SIZE_UNITS[m![2].toLowerCase()];
        break;
      }
      case 'required': mount.required = parseBool(value) ?? false; break;
      case 'env': mount.env = value; break;
      default: fail(`unexpected key '${key}' in '${text}'`);
    }
  }
  if (type === 'secret') {
    if (!mount.id && mount.target) mount.id = mount.target.split('/').pop();
    if (!mount.target && !mount.env) mount.target = `/run/secrets/${mount.id ?? ''}`;
    if (!mount.id) fail('secret mount needs an id or a target');
  }
  if (type === 'ssh' && !mount.target) mount.target = '/run/buildkit/ssh_agent.0';
  // No target: the mount is at the working directory (BuildKit joins "/", the workdir and the
  // target, so `moby/buildkit`'s own Dockerfile mounts `from=binaries` that way).
  if (type === 'cache') {
    mount.sharing ??= 'shared';
    // BuildKit's default id is the cleaned target as written (no target and `.` are one cache).
    mount.id ??= mount.target === '' ? '.' : path.posix.normalize(mount.target).replace(/(.)\/$/, '$1');
  }
  return mount;
}
