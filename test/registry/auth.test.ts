import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeRegistry, parseChallenges, pickChallenge } from '../../src/registry/auth.ts';
import { credentialKey, eraseCredentials, getCredentials, storeCredentials } from '../../src/registry/credentials.ts';
import { isRetryable, RegistryError, responseError } from '../../src/registry/errors.ts';
import { closeRegistryConnections, hostPolicy, isInsecure, isLoopback } from '../../src/registry/hosts.ts';
import { retryDelay } from '../../src/registry/http.ts';

// The pure parts of registry access: challenges, host policy, credential lookup, error text.

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-registry-unit-'));
});
afterAll(async () => {
  closeRegistryConnections();
  await rm(dir, { recursive: true, force: true });
});

describe('WWW-Authenticate', () => {
  it('parses bearer challenges with quoted commas', () => {
    const [challenge] = parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push"');
    expect(challenge).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull,push' },
    });
  });

  it('parses several challenges, escapes, unquoted values and token68', () => {
    const challenges = parseChallenges(['Basic realm="a \\"quoted\\" realm", charset=UTF-8', 'Negotiate abc123==, Bearer realm=http://x/t']);
    expect(challenges).toEqual([
      { scheme: 'basic', params: { realm: 'a "quoted" realm', charset: 'UTF-8' } },
      { scheme: 'negotiate', params: { '': 'abc123==' } },
      { scheme: 'bearer', params: { realm: 'http://x/t' } },
    ]);
    expect(pickChallenge(challenges)?.scheme).toBe('bearer');
    expect(parseChallenges(undefined)).toEqual([]);
  });
});

describe('hosts', () => {
  it('treats loopback names as HTTP-capable, and only them unless told', () => {
    for (const host of ['localhost:5000', '127.0.0.1:5000', '127.3.4.5', '[::1]:5000', 'localhost']) expect(isLoopback(host)).toBe(true);
    for (const host of ['example.com:5000', '10.0.0.1:5000', '128.0.0.1']) expect(isLoopback(host)).toBe(false);
    expect(hostPolicy('127.0.0.1:5000', { env: {} })).toMatchObject({ allowHttp: true, skipVerify: false });
    expect(hostPolicy('example.com', { env: {} })).toMatchObject({ allowHttp: false, skipVerify: false });
  });

  it('reads insecure registries from options and BERTH_INSECURE_REGISTRIES, with CIDRs', () => {
    const env = { BERTH_INSECURE_REGISTRIES: 'reg.internal:5000, 10.1.0.0/16' };
    expect(isInsecure('reg.internal:5000', { env })).toBe(true);
    expect(isInsecure('reg.internal:6000', { env })).toBe(false);
    expect(isInsecure('10.1.2.3:5000', { env })).toBe(true);
    expect(isInsecure('10.2.0.1:5000', { env })).toBe(false);
    expect(isInsecure('other:1', { env: {}, insecureRegistries: ['other'] })).toBe(true);
    expect(hostPolicy('other:1', { env: {}, insecureRegistries: ['http://other:1/'] })).toMatchObject({ allowHttp: true, skipVerify: true });
  });

  it('talks to registry-1.docker.io for docker.io and files its credentials under the v1 URL', () => {
    expect(hostPolicy('docker.io', { env: {} }).apiHost).toBe('registry-1.docker.io');
    expect(credentialKey('docker.io')).toBe('https://index.docker.io/v1/');
    expect(normalizeRegistry(undefined)).toBe('docker.io');
    expect(normalizeRegistry('https://index.docker.io/v1/')).toBe('docker.io');
    expect(normalizeRegistry('http://localhost:5000/')).toBe('localhost:5000');
  });

  it('refuses a CA file that cannot be read', () => {
    expect(() => hostPolicy('example.com', { env: { BERTH_REGISTRY_CA: join(dir, 'missing.pem') } })).toThrow(/cannot read registry CA file/);
  });
});

describe('credentials', () => {
  it('decodes auths entries under any spelling of the key', async () => {
    const configDir = join(dir, 'auths');
    await mkdir(configDir, { recursive: true });
    await writeFile(join(configDir, 'config.json'), JSON.stringify({
      auths: {
        'https://index.docker.io/v1/': { auth: Buffer.from('hub:p:w').toString('base64') },
        'https://reg.example.com/v2/': { auth: Buffer.from('me:secret').toString('base64') },
        'tokens.example.com': { identitytoken: 'refresh-me' },
      },
    }));
    expect(await getCredentials('docker.io', { configDir, env: {} })).toEqual({ username: 'hub', password: 'p:w' });
    expect(await getCredentials('reg.example.com', { configDir, env: {} })).toEqual({ username: 'me', password: 'secret' });
    expect(await getCredentials('tokens.example.com', { configDir, env: {} })).toEqual({ identityToken: 'refresh-me' });
    expect(await getCredentials('nobody.example.com', { configDir, env: {} })).toBeUndefined();
    expect(await getCredentials('x', { configDir: join(dir, 'absent'), env: {} })).toBeUndefined();
  });

  it('stores through credsStore and keeps an empty auths entry, as Docker does', async () => {
    const configDir = join(dir, 'store');
    const bin = join(dir, 'bin');
    const log = join(dir, 'helper.log');
    await mkdir(bin, { recursive: true });
    await mkdir(configDir, { recursive: true });
    await writeFile(join(bin, 'docker-credential-fake'), `#!/bin/sh\necho "$1 $(cat)" >> '${log}'\n[ "$1" = get ] && { echo "credentials not found in native keychain"; exit 1; }\nexit 0\n`);
    await chmod(join(bin, 'docker-credential-fake'), 0o755);
    await writeFile(join(configDir, 'config.json'), JSON.stringify({ credsStore: 'fake', other: { kept: true } }));
    const env = { PATH: `${bin}:${process.env.PATH}` };
    expect(await storeCredentials('reg.example.com', { username: 'u', password: 'p' }, { configDir, env })).toBe('docker-credential-fake');
    const config = JSON.parse(await readFile(join(configDir, 'config.json'), 'utf8'));
    expect(config).toEqual({ credsStore: 'fake', other: { kept: true }, auths: { 'reg.example.com': {} } });
    expect(await getCredentials('reg.example.com', { configDir, env })).toBeUndefined();
    expect(await eraseCredentials('reg.example.com', { configDir, env })).toBe(true);
    expect(await readFile(log, 'utf8')).toBe([
      'store {"ServerURL":"reg.example.com","Username":"u","Secret":"p"}',
      'get reg.example.com',
      'erase reg.example.com',
      '',
    ].join('\n'));
  });

  it('says which helper is missing', async () => {
    const configDir = join(dir, 'missing-helper');
    await mkdir(configDir, { recursive: true });
    await writeFile(join(configDir, 'config.json'), JSON.stringify({ credHelpers: { 'reg.example.com': 'nonexistent' } }));
    await expect(getCredentials('reg.example.com', { configDir, env: { PATH: '/nonexistent' } })).rejects.toThrow(/docker-credential-nonexistent is not installed/);
  });
});

describe('errors and retries', () => {
  it('explains 401, 403 and 404 with registry, repository and object', () => {
    const context = { registry: 'reg.example.com', repository: 'team/app', what: 'manifest v1' };
    const body = JSON.stringify({ errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] });
    expect(responseError(401, '', context).message).toBe('unauthorized: manifest v1 in reg.example.com/team/app needs authentication; run `berth login reg.example.com`');
    expect(responseError(403, body, context).message).toBe('denied: access to manifest v1 in reg.example.com/team/app is forbidden (DENIED: requested access to the resource is denied)');
    expect(responseError(404, '', context).message).toBe('not found: manifest v1 does not exist in reg.example.com/team/app');
    expect(responseError(404, body, context).code).toBe('DENIED');
  });

  it('retries only transient failures, with growing delays', () => {
    expect(isRetryable(new RegistryError('x', 503))).toBe(true);
    expect(isRetryable(new RegistryError('x', 429))).toBe(true);
    expect(isRetryable(new RegistryError('x', 404))).toBe(false);
    expect(isRetryable(new RegistryError('x', 0, undefined, true))).toBe(false);
    expect(isRetryable(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(true);
    expect(retryDelay(1, 100)).toBeLessThan(retryDelay(4, 100));
    expect(retryDelay(1, 100, '2')).toBe(2000);
  });
});
