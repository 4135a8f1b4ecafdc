import { BuildError } from '../source/index.ts';
import type { Stores } from './store.ts';

export interface OutputSpec {
  type: 'image' | 'docker' | 'oci' | 'local' | 'tar';
  dest?: string;
}

/** `type=docker,dest=out.tar` (a bare path means type=local,dest=path, like buildx). */
export function parseOutput(spec: string): OutputSpec {
  if (!spec.includes('=')) return { type: 'local', dest: spec };
  const out: Record<string, string> = {};
  for (const part of spec.split(',')) {
    const eq = part.indexOf('=');
    out[part.slice(0, eq).trim()] = part.slice(eq + 1);
  }
  const type = out.type ?? 'local';
  if (!['image', 'docker', 'oci', 'local', 'tar'].includes(type)) throw new BuildError(`unsupported output type "${type}" (image, docker, oci, local or tar)`);
  if (type !== 'image' && !out.dest) throw new BuildError(`output type=${type} needs dest=<path>`);
  return { type: type as OutputSpec['type'], dest: out.dest };
}

export async function exportImage(_stores: Stores, _manifestDigest: string, _tags: string[], output: OutputSpec): Promise<void> {
  if (output.type === 'image') return;
  throw new BuildError(`output type=${output.type} is not available yet`);
}
