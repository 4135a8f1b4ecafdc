/**
 * `--build-context NAME=VALUE`, as buildx reads it: `docker-image://REF` puts that image where
 * FROM, COPY --from or RUN --mount from= name NAME (a stage or image of that name included); a
 * local path or a git URL is a directory COPY --from=NAME reads. `oci-layout://` and tarball URLs
 * are refused with the reason, never ignored.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import type { NamedContext } from '../plan/index.ts';
import { isGitSource } from '../copy/match.ts';
import { BuildError } from '../source/index.ts';
import type { StoreLayout } from '../store/layout.ts';
import { gitContext } from './git-context.ts';

async function contextOf(name: string, value: string, layout: StoreLayout): Promise<NamedContext> {
  if (value.startsWith('docker-image://')) {
    const ref = value.slice('docker-image://'.length);
    if (!ref) throw new BuildError(`invalid --build-context ${name}=${value}: no image reference`);
    return { kind: 'image', ref };
  }
  if (value.startsWith('oci-layout://')) throw new BuildError(`--build-context ${name}: oci-layout:// contexts are not supported yet (berth load the layout, then use docker-image://)`);
  if (isGitSource(value)) return { kind: 'dir', path: (await gitContext(value, layout, false)).dir };
  if (/^https?:\/\//i.test(value)) throw new BuildError(`--build-context ${name}: URL contexts other than git repositories are not supported yet`);
  const dir = path.resolve(value);
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new BuildError(`--build-context ${name}: ${value} is not a directory`);
  return { kind: 'dir', path: dir };
}

export async function buildContexts(flags: readonly string[], layout: StoreLayout): Promise<Map<string, NamedContext> | undefined> {
  if (flags.length === 0) return undefined;
  const out = new Map<string, NamedContext>();
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    const name = eq < 0 ? '' : flag.slice(0, eq);
    if (!name || eq === flag.length - 1) throw new BuildError(`invalid --build-context "${flag}": use NAME=PATH, NAME=docker-image://REF or NAME=<git url>`);
    out.set(name, await contextOf(name, flag.slice(eq + 1), layout));
  }
  return out;
}
