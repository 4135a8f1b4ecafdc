import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import type { Platform } from '../image/descriptor.ts';

/**
 * Which registry hosts may be spoken to how. HTTP is allowed for loopback registries and for
 * those named insecure (`--insecure-registry`, `BERTH_INSECURE_REGISTRIES`), as Docker does; an
 * insecure registry's certificate is not checked. CA certificates come from
 * `/etc/docker/certs.d/<host>/*.crt` (client certificates from `*.cert` + `*.key` beside them, as
 * Docker reads that directory) and from `BERTH_REGISTRY_CA` (a comma- or colon-separated list of
 * PEM files), on top of Node's built-in roots.
 */

/** Progress of a pull, push or cache transfer, for CLIs and build output. */
export interface TransferEvent {
  kind: 'resolved' | 'exists' | 'mounted' | 'downloading' | 'downloaded' | 'uploading' | 'uploaded' | 'manifest';
  digest: string;
  size?: number;
  /** The blob's media type, when a descriptor named it (CLIs show layers, not configs). */
  mediaType?: string;
  /** For `mounted`: the repository the blob came from. */
  from?: string;
}

export interface RegistryOptions {
  /** Extra registries (`host[:port]` or an IPv4 CIDR) allowed over HTTP and without TLS checks. */
  insecureRegistries?: string[];
  /** Docker config directory (default `$DOCKER_CONFIG`, else `~/.docker`). */
  configDir?: string;
  /** Per-host certificate directories (default `/etc/docker/certs.d`). */
  certsDir?: string;
  /** Extra CA files, on top of `BERTH_REGISTRY_CA`. */
  caFiles?: string[];
  /** Use these instead of looking credentials up (login checks them this way). */
  credentials?: { username: string; password: string };
  /** Blobs in flight at once (default 4). */
  concurrency?: number;
  /** Attempts per request on 5xx and dropped connections (default 4). */
  attempts?: number;
  /** First retry delay in ms, doubled each attempt (default 250). */
  backoffMs?: number;
  /** Platform to pick from multi-platform indexes (default linux/amd64). */
  platform?: Platform;
  signal?: AbortSignal;
  onProgress?: (event: TransferEvent) => void;
  env?: NodeJS.ProcessEnv;
}

/** How one registry host is reached. */
export interface HostPolicy {
  /** Registry as the user names it (`docker.io`, `localhost:5000`). */
  registry: string;
  /** host[:port] the API lives at (`registry-1.docker.io` for docker.io). */
  apiHost: string;
  allowHttp: boolean;
  /** Skip certificate verification (insecure registries only). */
  skipVerify: boolean;
  httpsAgent: https.Agent;
  httpAgent: http.Agent;
}

export const DOCKER_HUB = 'docker.io';
export const DOCKER_HUB_API = 'registry-1.docker.io';

/** Host without port; brackets of an IPv6 literal removed. */
export function hostnameOf(hostPort: string): string {
  if (hostPort.startsWith('[')) return hostPort.slice(1, hostPort.indexOf(']'));
  const colons = hostPort.split(':').length - 1;
  if (colons === 1) return hostPort.slice(0, hostPort.indexOf(':'));
  return hostPort; // A bare IPv6 address, or a name without port.
}

export function isLoopback(hostPort: string): boolean {
  const host = hostnameOf(hostPort).toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost') || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

function ipv4ToNumber(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

function inCidr(host: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  if (isIP(host) !== 4 || isIP(base) !== 4 || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((ipv4ToNumber(host) & mask) >>> 0) === ((ipv4ToNumber(base) & mask) >>> 0);
}

/** The insecure list: options first, then `BERTH_INSECURE_REGISTRIES` (comma-separated). */
export function insecureList(options: RegistryOptions = {}): string[] {
  const env = options.env ?? process.env;
  const fromEnv = (env.BERTH_INSECURE_REGISTRIES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return [...(options.insecureRegistries ?? []), ...fromEnv].map((entry) => entry.replace(/^https?:\/\//, '').replace(/\/+$/, ''));
}

/** True when `registry` is named insecure: exactly, by host for any port, or by CIDR. */
export function isInsecure(registry: string, options: RegistryOptions = {}): boolean {
  const host = hostnameOf(registry);
  return insecureList(options).some((entry) => entry === registry || entry === host || (entry.includes('/') && inCidr(host, entry)));
}

interface TlsMaterial {
  ca: string[];
  cert?: string;
  key?: string;
}

function readIfPresent(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** CA and client certificates for one host; read on each policy lookup so tests can change them. */
function tlsMaterial(registry: string, options: RegistryOptions): TlsMaterial {
  const env = options.env ?? process.env;
  const files = [...(options.caFiles ?? []), ...(env.BERTH_REGISTRY_CA ?? '').split(/[,:]/).map((s) => s.trim()).filter(Boolean)];
  const ca: string[] = [];
  for (const file of files) {
    const pem = readIfPresent(file);
    if (pem === undefined) throw new Error(`cannot read registry CA file ${file}`);
    ca.push(pem);
  }
  const material: TlsMaterial = { ca };
  const dir = join(options.certsDir ?? '/etc/docker/certs.d', registry);
  let names: string[] = [];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return material;
  }
  for (const name of names) {
    if (name.endsWith('.crt')) {
      const pem = readIfPresent(join(dir, name));
      if (pem) ca.push(pem);
    } else if (name.endsWith('.cert')) {
      const key = readIfPresent(join(dir, `${name.slice(0, -'.cert'.length)}.key`));
      const cert = readIfPresent(join(dir, name));
      if (key && cert) Object.assign(material, { cert, key });
    }
  }
  return material;
}

/** Agents are shared by every request with the same TLS settings, so connections are reused. */
const agents = new Map<string, { httpsAgent: https.Agent; httpAgent: http.Agent }>();

function agentsFor(material: TlsMaterial, skipVerify: boolean): { httpsAgent: https.Agent; httpAgent: http.Agent } {
  const key = createHash('sha256').update(JSON.stringify([material, skipVerify])).digest('hex');
  let entry = agents.get(key);
  if (!entry) {
    entry = {
      httpsAgent: new https.Agent({
        keepAlive: true,
        maxSockets: 16,
        ...(material.ca.length ? { ca: [...rootCertificates, ...material.ca] } : {}),
        ...(material.cert ? { cert: material.cert, key: material.key } : {}),
        rejectUnauthorized: !skipVerify,
      }),
      httpAgent: new http.Agent({ keepAlive: true, maxSockets: 16 }),
    };
    agents.set(key, entry);
  }
  return entry;
}

/** Closes every pooled connection (tests call this; a CLI exits anyway, idle sockets are unref'd). */
export function closeRegistryConnections(): void {
  for (const entry of agents.values()) {
    entry.httpsAgent.destroy();
    entry.httpAgent.destroy();
  }
  agents.clear();
}

export function hostPolicy(registry: string, options: RegistryOptions = {}): HostPolicy {
  const insecure = isInsecure(registry, options);
  const apiHost = registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
  return {
    registry,
    apiHost,
    allowHttp: insecure || isLoopback(registry),
    skipVerify: insecure,
    ...agentsFor(tlsMaterial(registry, options), insecure),
  };
}

/** The agent for a URL: the policy's for its own host, plain defaults for anywhere else (redirects). */
export function agentFor(url: URL, policy: HostPolicy): http.Agent | https.Agent {
  const own = url.host === policy.apiHost;
  if (url.protocol === 'http:') return own ? policy.httpAgent : http.globalAgent;
  return own ? policy.httpsAgent : https.globalAgent;
}
