import { spawn } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../content/store.ts';
import { DOCKER_HUB, type RegistryOptions } from './hosts.ts';

/**
 * Credentials the way the Docker CLI keeps them, in `$DOCKER_CONFIG/config.json` (default
 * `~/.docker/config.json`): `auths[server].auth` is base64 `user:password`; `credHelpers[host]`
 * or `credsStore` name a `docker-credential-<name>` program speaking the credential-helper
 * protocol (`get`/`store`/`erase`, server URL or JSON on stdin, JSON on stdout). Docker Hub's
 * key is the historical `https://index.docker.io/v1/`.
 */

export interface Credentials {
  username?: string;
  password?: string;
  /** OAuth2 refresh token (Docker's "identity token"): exchanged for bearer tokens by POST. */
  identityToken?: string;
}

export interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  [key: string]: unknown;
}

export interface DockerConfig {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
  [key: string]: unknown;
}

export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

export function dockerConfigDir(options: RegistryOptions = {}): string {
  const env = options.env ?? process.env;
  return options.configDir ?? env.DOCKER_CONFIG ?? join(env.HOME ?? homedir(), '.docker');
}

/** The key a registry's credentials are filed under. */
export function credentialKey(registry: string): string {
  return registry === DOCKER_HUB || registry === 'index.docker.io' || registry === 'registry-1.docker.io' ? DOCKER_HUB_KEY : registry;
}

/** `https://host:port/v1/` → `host:port`, as the Docker CLI matches stored keys. */
function keyHost(key: string): string {
  const stripped = key.replace(/^[a-z]+:\/\//i, '');
  const host = stripped.split('/')[0];
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? DOCKER_HUB : host;
}

export async function readDockerConfig(options: RegistryOptions = {}): Promise<DockerConfig> {
  const file = join(dockerConfigDir(options), 'config.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as DockerConfig;
  } catch (error) {
    throw new Error(`${file} is not valid JSON: ${(error as Error).message}`);
  }
}

/** Writes config.json atomically and private (it holds secrets): temp, fsync, rename. */
export async function writeDockerConfig(config: DockerConfig, options: RegistryOptions = {}): Promise<void> {
  const file = join(dockerConfigDir(options), 'config.json');
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, `${JSON.stringify(config, null, '\t')}\n`, { mode: 0o600 });
}

function decodeEntry(entry: AuthEntry): Credentials | undefined {
  const out: Credentials = {};
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new Error('invalid auth entry in docker config: no ":" in the decoded auth field');
    out.username = decoded.slice(0, colon);
    out.password = decoded.slice(colon + 1);
  } else if (typeof entry.username === 'string') {
    out.username = entry.username;
    out.password = typeof entry.password === 'string' ? entry.password : '';
  }
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') out.identityToken = entry.identitytoken;
  return out.username !== undefined || out.identityToken !== undefined ? out : undefined;
}

/** Runs `docker-credential-<helper> <action>` with `input` on stdin; resolves its stdout. */
export function runCredentialHelper(helper: string, action: 'get' | 'store' | 'erase', input: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const program = `docker-credential-${helper}`;
  return new Promise((resolve, reject) => {
    const child = spawn(program, [action], { stdio: ['pipe', 'pipe', 'pipe'], env, timeout: 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(new Error(error.code === 'ENOENT' ? `credential helper ${program} is not installed (not on PATH)` : `${program}: ${error.message}`));
    });
    child.on('close', (code) => {
      if (code === 0) resolve(stdout);
      else reject(Object.assign(new Error(`${program} ${action} failed: ${(stdout + stderr).trim() || `exit status ${code}`}`), { helperOutput: stdout + stderr }));
    });
    child.stdin.on('error', () => undefined); // A helper that exits without reading stdin.
    child.stdin.end(input);
  });
}

function helperFor(config: DockerConfig, registry: string): string | undefined {
  const helpers = config.credHelpers ?? {};
  for (const [key, helper] of Object.entries(helpers)) if (keyHost(key) === registry) return helper;
  return config.credsStore || undefined;
}

/** Credentials for `registry`, or undefined to go anonymous. */
export async function getCredentials(registry: string, options: RegistryOptions = {}): Promise<Credentials | undefined> {
  if (options.credentials) return { ...options.credentials };
  const config = await readDockerConfig(options);
  const helper = helperFor(config, registry);
  if (helper) {
    let output: string;
    try {
      output = await runCredentialHelper(helper, 'get', credentialKey(registry), options.env);
    } catch (error) {
      // The protocol's "nothing stored" answer; anything else is a real failure.
      if (/credentials not found/i.test(String((error as { helperOutput?: string }).helperOutput ?? ''))) return undefined;
      throw error;
    }
    const parsed = JSON.parse(output) as { Username?: string; Secret?: string };
    if (!parsed.Secret) return undefined;
    return parsed.Username === '<token>' ? { identityToken: parsed.Secret } : { username: parsed.Username ?? '', password: parsed.Secret };
  }
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    if (keyHost(key) === registry && entry && typeof entry === 'object') {
      const credentials = decodeEntry(entry);
      if (credentials) return credentials;
    }
  }
  return undefined;
}

/** Files credentials where Docker would: the host's helper, the store, or `auths`. Returns where. */
export async function storeCredentials(registry: string, credentials: { username: string; password: string }, options: RegistryOptions = {}): Promise<string> {
  const config = await readDockerConfig(options);
  const key = credentialKey(registry);
  const helper = helperFor(config, registry);
  config.auths ??= {};
  for (const existing of Object.keys(config.auths)) if (keyHost(existing) === registry) delete config.auths[existing];
  if (helper) {
    await runCredentialHelper(helper, 'store', JSON.stringify({ ServerURL: key, Username: credentials.username, Secret: credentials.password }), options.env);
    // Docker leaves an empty entry so `docker info`-style listings still show the login.
    config.auths[key] = {};
    await writeDockerConfig(config, options);
    return `docker-credential-${helper}`;
  }
  config.auths[key] = { auth: Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64') };
  await writeDockerConfig(config, options);
  return join(dockerConfigDir(options), 'config.json');
}

/** Forgets credentials for `registry`; false when none were stored. */
export async function eraseCredentials(registry: string, options: RegistryOptions = {}): Promise<boolean> {
  const config = await readDockerConfig(options);
  let removed = false;
  for (const existing of Object.keys(config.auths ?? {})) {
    if (keyHost(existing) === registry) {
      delete config.auths![existing];
      removed = true;
    }
  }
  const helper = helperFor(config, registry);
  if (helper) {
    try {
      await runCredentialHelper(helper, 'erase', credentialKey(registry), options.env);
      removed = true;
    } catch (error) {
      if (!/not found/i.test(String((error as { helperOutput?: string }).helperOutput ?? ''))) throw error;
    }
  }
  if (removed) await writeDockerConfig(config, options);
  return removed;
}
