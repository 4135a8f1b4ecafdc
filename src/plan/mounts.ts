import path from 'node:path';
import { BuildError, type SourceRange } from '../source/index.ts';
import type { FileSource, RunMount } from './types.ts';
import { splitCsv } from '../text/csv.ts';
import { parseSize } from '../text/units.ts';

/** Resolves `from=` of a mount: a stage name or index, else an image reference. */
export type FromResolver = (from: string, range: SourceRange) => FileSource;

function parseBool(value: string | undefined): boolean | undefined {
  if (value === undefined || value === '') return true;
  const v = value.toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  return undefined;
}

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
        const size = parseSize(value ?? '');
        if (size === undefined) fail(`invalid size "${value}"`);
        mount.size = size;
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
