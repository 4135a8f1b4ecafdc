import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resolveImage } from '../../src/image/store.ts';
import { closeRegistryConnections, login, logout, pullImage, pushImage, RegistryError, type RegistryStores } from '../../src/registry/index.ts';
import { makeCerts, makeImage, makeStores, startProxy, startRegistry, tempDir, type TestCerts, type TestProxy, type TestRegistry } from './helpers.ts';

// A registry behind TLS (test CA, trusted through BERTH_REGISTRY_CA) with htpasswd basic auth;
// and a bearer-token front (token server + proxy) on a plain one. Credentials live in a temp
// DOCKER_CONFIG, never in the real ~/.docker.

const BERTH = join(import.meta.dirname, '..', '..', 'bin', 'berth');
let secure: TestRegistry;
let plain: TestRegistry;
let certs: TestCerts;
let root: string;
let configDir: string;
let storeCount = 0;
const savedCa = process.env.BERTH_REGISTRY_CA;

beforeAll(async () => {
  root = await tempDir('auth');
  certs = makeCerts(root);
  secure = await startRegistry({ tls: certs, users: { alice: 'wonderland' } });
  plain = await startRegistry();
});
afterAll(async () => {
  if (savedCa === undefined) delete process.env.BERTH_REGISTRY_CA;
  else process.env.BERTH_REGISTRY_CA = savedCa;
  closeRegistryConnections();
  await secure?.stop();
  await plain?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});
beforeEach(async () => {
  configDir = join(root, `docker-${storeCount}`);
  process.env.BERTH_REGISTRY_CA = certs.ca;
});

async function freshStores(): Promise<RegistryStores> {
  return makeStores(join(root, `store-${storeCount++}`));
}

describe('TLS with a custom CA', () => {
  it('refuses an untrusted certificate with advice, and does not fall back to HTTP', async () => {
    delete process.env.BERTH_REGISTRY_CA;
    const stores = await freshStores();
    const error = await pullImage(stores, `${secure.host}/x/y:z`, { configDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryError);
    expect((error as Error).message).toMatch(/TLS certificate of 127\.0\.0\.1:\d+ is not trusted/);
    expect((error as Error).message).toContain('BERTH_REGISTRY_CA');
  });

  it('trusts a CA from <certsDir>/<host>/ca.crt as Docker does', async () => {
    delete process.env.BERTH_REGISTRY_CA;
    const certsDir = join(root, 'certs.d');
    await mkdir(join(certsDir, secure.host), { recursive: true });
    await writeFile(join(certsDir, secure.host, 'ca.crt'), await readFile(certs.ca));
    const stores = await freshStores();
    // The CA is trusted, so the conversation gets as far as the registry's 401.
    await expect(pullImage(stores, `${secure.host}/x/y:z`, { configDir, certsDir })).rejects.toMatchObject({ status: 401 });
  });
});

describe('basic auth', () => {
  it('anonymous access gets a clear 401 naming registry, repository and what to do', async () => {
    const stores = await freshStores();
    const name = `${secure.host}/team/app:v1`;
    await makeImage(stores, [{ 'a': 'a\n' }], [name]);
    const error = await pushImage(stores, name, { configDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryError);
    expect((error as RegistryError).status).toBe(401);
    expect((error as Error).message).toContain(`${secure.host}/team/app needs authentication`);
    expect((error as Error).message).toContain(`berth login ${secure.host}`);
  });

  it('a wrong password is a 401 that says the credentials were refused', async () => {
    const stores = await freshStores();
    const error = await pullImage(stores, `${secure.host}/team/app:v1`, { configDir, credentials: { username: 'alice', password: 'nope' } }).catch((e: unknown) => e);
    expect((error as RegistryError).status).toBe(401);
    expect((error as Error).message).toMatch(new RegExp(`unauthorized: ${secure.host} refused the credentials for manifest v1 in ${secure.host}/team/app`));
    await expect(login(secure.host, { username: 'alice', password: 'nope' }, { configDir })).rejects.toMatchObject({ status: 401 });
    await expect(stat(join(configDir, 'config.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('login stores credentials privately; push and pull use them; logout forgets them', async () => {
    const result = await login(secure.host, { username: 'alice', password: 'wonderland' }, { configDir });
    expect(result.storedIn).toBe(join(configDir, 'config.json'));
    const file = join(configDir, 'config.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const config = JSON.parse(await readFile(file, 'utf8'));
    expect(Buffer.from(config.auths[secure.host].auth, 'base64').toString()).toBe('alice:wonderland');

    const a = await freshStores();
    const name = `${secure.host}/team/app:v2`;
    const image = await makeImage(a, [{ 'secret.txt': 'tls and auth\n' }], [name]);
    expect((await pushImage(a, name, { configDir })).digest).toBe(image.descriptor.digest);
    const b = await freshStores();
    expect((await pullImage(b, name, { configDir })).manifestDigest).toBe(image.descriptor.digest);

    expect(await logout(secure.host, { configDir })).toBe(true);
    expect(JSON.parse(await readFile(file, 'utf8')).auths).toEqual({});
    await expect(pullImage(await freshStores(), name, { configDir })).rejects.toMatchObject({ status: 401 });
  });

  it('asks a docker-credential helper named in credHelpers', async () => {
    const bin = join(root, 'bin');
    await mkdir(bin, { recursive: true });
    const helper = join(bin, 'docker-credential-berthtest');
    await writeFile(helper, [
      '#!/bin/sh',
      'read server',
      `[ "$1" = get ] && [ "$server" = "${secure.host}" ] && { echo '{"ServerURL":"'$server'","Username":"alice","Secret":"wonderland"}'; exit 0; }`,
      'echo "credentials not found in native keychain"; exit 1',
    ].join('\n'));
    await chmod(helper, 0o755);
    await mkdir(configDir, { recursive: true });
    await writeFile(join(configDir, 'config.json'), JSON.stringify({ credHelpers: { [secure.host]: 'berthtest' } }));
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    const a = await freshStores();
    const name = `${secure.host}/team/helper:v1`;
    const image = await makeImage(a, [{ 'h.txt': 'helper\n' }], [name]);
    expect((await pushImage(a, name, { configDir, env })).digest).toBe(image.descriptor.digest);
  });

  it('berth login / push / pull on the command line', async () => {
    const env = { ...process.env, DOCKER_CONFIG: configDir, BERTH_REGISTRY_CA: certs.ca };
    const cli = (args: string[], input?: string) => spawnSync(BERTH, args, { env, input, encoding: 'utf8' });
    const bad = cli(['login', '-u', 'alice', '--password-stdin', secure.host], 'wrong\n');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('unauthorized');
    const good = cli(['login', '-u', 'alice', '--password-stdin', secure.host], 'wonderland\n');
    expect(good.stderr + good.stdout).toContain('Login Succeeded');

    const storeA = join(root, `cli-a-${storeCount}`);
    const stores = await makeStores(storeA);
    const name = `${secure.host}/team/cli:v1`;
    const image = await makeImage(stores, [{ 'c.txt': 'cli\n' }], [name]);
    const push = cli(['--root', storeA, 'push', name]);
    expect(push.stderr).toBe('');
    expect(push.stdout).toContain(`v1: digest: ${image.descriptor.digest}`);
    const storeB = join(root, `cli-b-${storeCount}`);
    const pull = cli(['--root', storeB, 'pull', name]);
    expect(pull.stderr).toBe('');
    expect(pull.stdout).toContain(`Digest: ${image.descriptor.digest}`);
    expect(pull.stdout).toContain('Status: Downloaded newer image');
    expect((await resolveImage((await makeStores(storeB)).images, name))?.record.digest).toBe(image.descriptor.digest);
    const out = cli(['logout', secure.host]);
    expect(out.stdout).toContain(`Removing login credentials for ${secure.host}`);
  });
});

describe('bearer tokens', () => {
  let front: TestProxy;
  const tokenRequests: string[] = [];

  // A token server and registry front in the style of the Docker token spec: anonymous tokens
  // may pull, alice's may also push; the registry side checks the token covers the scope.
  beforeAll(async () => {
    const grant = (authorization: string | undefined, scopes: string[]) => {
      const basic = authorization?.startsWith('Basic ') ? Buffer.from(authorization.slice(6), 'base64').toString() : undefined;
      if (basic !== undefined && basic !== 'alice:wonderland') return undefined;
      return scopes.map((s) => (basic ? s : s.replace(/:pull,push$/, ':pull').replace(/:push$/, ''))).join(' ');
    };
    front = await startProxy(plain.port, (req, res) => {
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/token') {
        tokenRequests.push(url.search);
        const granted = grant(req.headers.authorization, url.searchParams.getAll('scope'));
        if (granted === undefined) res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"incorrect username or password"}');
        else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: Buffer.from(granted || 'login').toString('base64url'), expires_in: 300 }));
        return true;
      }
      const repo = /^\/v2\/(.+?)\/(manifests|blobs|tags)\//.exec(url.pathname)?.[1];
      const needs = req.method === 'GET' || req.method === 'HEAD' ? 'pull' : 'push';
      const bearer = req.headers.authorization?.startsWith('Bearer ') ? req.headers.authorization.slice(7) : undefined;
      const granted = bearer === undefined ? [] : Buffer.from(bearer, 'base64url').toString().split(' ');
      const allowed = repo === undefined
        ? bearer !== undefined
        : granted.some((s) => s.startsWith(`repository:${repo}:`) && s.split(':')[2].split(',').includes(needs));
      if (allowed) return false; // forward to the registry
      const scope = repo ? `,scope="repository:${repo}:${needs === 'push' ? 'pull,push' : 'pull'}"` : '';
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${front.host}/token",service="berth-test"${scope}`, 'content-type': 'application/json' })
        .end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return true;
    });
  });
  afterAll(async () => {
    await front?.close();
  });

  it('fetches scoped tokens: credentials may push, anonymous may only pull', async () => {
    const a = await freshStores();
    const name = `${front.host}/team/tokens:v1`;
    const image = await makeImage(a, [{ 't.txt': 'token\n' }], [name]);
    const credentials = { username: 'alice', password: 'wonderland' };
    expect((await pushImage(a, name, { configDir, credentials })).digest).toBe(image.descriptor.digest);
    expect(tokenRequests.some((q) => q.includes('service=berth-test') && q.includes('scope=repository%3Ateam%2Ftokens%3Apull%2Cpush'))).toBe(true);

    const b = await freshStores();
    expect((await pullImage(b, name, { configDir })).manifestDigest).toBe(image.descriptor.digest);
    const error = await pushImage(b, name, { configDir }).catch((e: unknown) => e);
    expect((error as RegistryError).status).toBe(401);
    expect((error as Error).message).toContain(`${front.host}/team/tokens`);
    await expect(pullImage(b, name, { configDir, credentials: { username: 'alice', password: 'bad' } })).rejects.toThrow(/refused the credentials for token/);
    await expect(login(front.host, { username: 'alice', password: 'bad' }, { configDir })).rejects.toMatchObject({ status: 401 });
    await expect(login(front.host, credentials, { configDir })).resolves.toMatchObject({ registry: front.host });
  });
});
