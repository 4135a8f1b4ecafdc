/**
 * `berth build --secret` and `--allow`, as `docker buildx build` has them.
 *
 * A secret flag is a CSV list: `id=NAME` plus `src=FILE` (or `source=`), or `env=VAR`, or
 * `type=file|env` with `src` naming the file or the variable. With neither, the variable named
 * like the id is used when set, else a file of that name (buildx's fallback). Values are read
 * here, once, into memory: they go to the sandbox through its spec pipe and nowhere else, and no
 * message below ever quotes them.
 */
import { readFileSync } from 'node:fs';
import { BuildError } from '../source/index.ts';
import { splitCsv } from '../text/csv.ts';

/** Entitlements `--allow` accepts: RUN --security=insecure and the host's network need one each. */
export const ENTITLEMENTS: readonly string[] = ['security.insecure', 'network.host'];

export interface SecretSource {
  id: string;
  file?: string;
  env?: string;
}

/** One `--secret` flag to where its value comes from. */
export function parseSecretFlag(text: string): SecretSource {
  let id: string | undefined;
  let type: string | undefined;
  let src: string | undefined;
  let env: string | undefined;
  for (const field of splitCsv(text)) {
    if (field === '') continue;
    const eq = field.indexOf('=');
    if (eq < 0) throw new BuildError(`invalid --secret "${text}": field "${field}" is not key=value`);
    const key = field.slice(0, eq).toLowerCase();
    const value = field.slice(eq + 1);
    switch (key) {
      case 'id': id = value; break;
      case 'type':
        if (value !== 'file' && value !== 'env') throw new BuildError(`invalid --secret "${text}": type must be file or env`);
        type = value;
        break;
      case 'src': case 'source': src = value; break;
      case 'env': env = value; break;
      default: throw new BuildError(`invalid --secret "${text}": unexpected key "${key}" (id, type, src, env)`);
    }
  }
  if (!id) throw new BuildError(`invalid --secret "${text}": an id is required (id=NAME,src=FILE or id=NAME,env=VAR)`);
  if (type === 'env') return { id, env: env ?? src ?? id };
  if (type === 'file') return { id, file: src ?? id };
  if (src !== undefined) return { id, file: src };
  if (env !== undefined) return { id, env };
  return { id };
}

/** Reads every `--secret`: a missing file is an error now; an unset variable leaves the secret absent. */
export function loadSecrets(flags: readonly string[], environment: NodeJS.ProcessEnv = process.env): Map<string, Buffer> {
  const secrets = new Map<string, Buffer>();
  for (const flag of flags) {
    const source = parseSecretFlag(flag);
    let env = source.env;
    let file = source.file;
    if (env === undefined && file === undefined) {
      if (environment[source.id] !== undefined) env = source.id;
      else file = source.id;
    }
    if (env !== undefined) {
      const value = environment[env];
      if (value !== undefined) secrets.set(source.id, Buffer.from(value, 'utf8'));
      continue;
    }
    try {
      secrets.set(source.id, readFileSync(file!));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      throw new BuildError(`secret ${source.id}: cannot read ${file} (${code})`);
    }
  }
  return secrets;
}

/** Checks `--allow` values. */
export function parseAllow(values: readonly string[]): string[] {
  const allowed = values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  for (const value of allowed) {
    if (!ENTITLEMENTS.includes(value)) throw new BuildError(`unknown entitlement "${value}" for --allow (${ENTITLEMENTS.join(', ')})`);
  }
  return allowed;
}
