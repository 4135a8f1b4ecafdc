import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { openContentStore } from '../../src/content/store.ts';
import { writeImage, type WrittenImage } from '../../src/image/commit.ts';
import { newImageConfig, withLayer } from '../../src/image/config.ts';
import { openImageStore } from '../../src/image/store.ts';
import { dirToTar } from '../../src/layer/diff.ts';
import { storeLayer } from '../../src/layer/store.ts';
import type { RegistryStores } from '../../src/registry/index.ts';
import { ensureStore, storeLayout } from '../../src/store/layout.ts';

/**
 * Real registries for the integration tests: Debian's docker-registry (distribution 2.8) on
 * 127.0.0.1 and a random free port, storage in a temp dir; optionally behind TLS with a test
 * CA made by openssl, and htpasswd basic auth. Nothing here touches a non-loopback address.
 */

export const CREATED = '2024-01-02T03:04:05Z';

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `berth-registry-${prefix}-`));
}

export function run(command: string, args: string[], input?: string): string {
  return execFileSync(command, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface TestCerts {
  ca: string;
  cert: string;
  key: string;
}

/** A CA and a server certificate for 127.0.0.1 and localhost, signed by it. */
export function makeCerts(dir: string): TestCerts {
  const ca = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  const key = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const cert = join(dir, 'server.crt');
  const ext = join(dir, 'ext.cnf');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run('openssl', ['req', '-x509', ...ec, '-keyout', caKey, '-out', ca, '-subj', '/CN=berth test CA', '-days', '2']);
  run('openssl', ['req', ...ec, '-keyout', key, '-out', csr, '-subj', '/CN=127.0.0.1']);
  execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nbasicConstraints=CA:FALSE\\n' > '${ext}'`]);
  run('openssl', ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext]);
  return { ca, cert, key };
}

export interface TestRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  port: number;
  dir: string;
  process: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

export interface RegistrySetup {
  tls?: TestCerts;
  /** user → password, stored bcrypt-hashed with htpasswd. */
  users?: Record<string, string>;
}

/** Starts docker-registry and waits until `/v2/` answers. */
export async function startRegistry(setup: RegistrySetup = {}): Promise<TestRegistry> {
  const dir = await tempDir('server');
  const port = await freePort();
  const lines = [
    'version: 0.1',
    'log:', '  level: warn', '  accesslog:', '    disabled: true',
    'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'data')}`, '  delete:', '    enabled: true',
    'http:', `  addr: 127.0.0.1:${port}`, '  secret: berth-test-secret',
  ];
  if (setup.tls) lines.push('  tls:', `    certificate: ${setup.tls.cert}`, `    key: ${setup.tls.key}`);
  if (setup.users) {
    const file = join(dir, 'htpasswd');
    const entries = Object.entries(setup.users).map(([user, password]) => run('htpasswd', ['-Bbn', user, password]).trim());
    await writeFile(file, `${entries.join('\n')}\n`);
    lines.push('auth:', '  htpasswd:', '    realm: berth-test', `    path: ${file}`);
  }
  await writeFile(join(dir, 'config.yml'), `${lines.join('\n')}\n`);
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${output}`);
    if (await answers(port, setup.tls?.ca)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not start: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { host: `127.0.0.1:${port}`, port, dir, process: child, log: () => output, stop };
}

function answers(port: number, ca: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const options = { host: '127.0.0.1', port, path: '/v2/', timeout: 1000 };
    const req = ca
      ? https.get({ ...options, rejectUnauthorized: false }, (res) => { res.resume(); resolve(true); })
      : http.get(options, (res) => { res.resume(); resolve(true); });
    req.on('error', () => resolve(false));
    req.on('timeout', () => { req.destroy(); resolve(false); });
  });
}

export async function makeStores(root: string): Promise<RegistryStores> {
  const layout = ensureStore(storeLayout(root));
  const content = openContentStore(layout.root);
  return { layout, content, images: openImageStore(layout.root, content) };
}

const MTIME = 1_700_000_000;

/**
 * An image with one layer per entry of `layers` (path → content each), fixed times, so equal
 * inputs give equal digests. `salt` goes into a file of the last layer to make images distinct.
 */
export async function makeImage(stores: RegistryStores, layers: Array<Record<string, string>>, names: string[] = []): Promise<WrittenImage> {
  let config = newImageConfig({ created: CREATED, config: { Env: ['PATH=/bin'], Cmd: ['sh'] } });
  const stored = [];
  for (const files of layers) {
    const tree = await tempDir('tree');
    try {
      for (const [path, text] of Object.entries(files)) {
        await mkdir(dirname(join(tree, path)), { recursive: true });
        await writeFile(join(tree, path), text);
        await utimes(join(tree, path), MTIME, MTIME);
        for (let d = dirname(path); d !== '.'; d = dirname(d)) await utimes(join(tree, d), MTIME, MTIME);
      }
      const layer = await storeLayer(stores.content, dirToTar(tree));
      stored.push(layer);
      config = withLayer(config, layer.diffId, { created: CREATED, created_by: `COPY ${Object.keys(files).join(' ')} /` });
    } finally {
      await rm(tree, { recursive: true, force: true });
    }
  }
  return writeImage(stores.images, config, stored, { names });
}

/** Random bytes as text: layers that do not compress away, so uploads have some size. */
export function noise(bytes: number): string {
  let out = '';
  while (out.length < bytes) out += Math.random().toString(36).slice(2);
  return out.slice(0, bytes);
}

export interface TestProxy {
  port: number;
  host: string;
  /** `METHOD path` of every request seen. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * A loopback HTTP proxy in front of a plain registry. `intercept` may answer a request itself
 * (return true) or tamper with the upstream response through `forward`'s hook.
 */
export async function startProxy(
  upstreamPort: number,
  intercept?: (req: http.IncomingMessage, res: http.ServerResponse, forward: (onResponse?: (up: http.IncomingMessage) => boolean) => void) => boolean,
): Promise<TestProxy> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const forward = (onResponse?: (up: http.IncomingMessage) => boolean) => {
      const upstream = http.request({ host: '127.0.0.1', port: upstreamPort, path: req.url, method: req.method, headers: req.headers }, (up) => {
        if (onResponse?.(up)) return;
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    };
    if (!intercept?.(req, res, forward)) forward();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    port, host: `127.0.0.1:${port}`, requests,
    close: async () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
