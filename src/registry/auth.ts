import { BuildError } from '../source/error.ts';
import { eraseCredentials, getCredentials, storeCredentials, type Credentials } from './credentials.ts';
import { RegistryError, isCertificateError, responseError, type RequestContext } from './errors.ts';
import { DOCKER_HUB, hostPolicy, type HostPolicy, type RegistryOptions } from './hosts.ts';
import { drain, readBuffer, readText, send, type HttpRequest, type HttpResponse } from './http.ts';

/**
 * `WWW-Authenticate` challenges (RFC 7235 §4.1, and the Docker registry token-auth spec's use of
 * them): `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="…"`
 * or `Basic realm="Registry"`. A header can carry several challenges separated by commas, and
 * quoted values can carry commas themselves (`scope="repository:a:pull,push"`), so this is a
 * small scanner rather than a split.
 */
export interface Challenge {
  /** Lower-cased scheme: `bearer`, `basic`, … */
  scheme: string;
  /** Parameter names lower-cased; values unquoted. */
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;

export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const headers = Array.isArray(header) ? header : [header];
  return headers.flatMap(parseOne);
}

function parseOne(text: string): Challenge[] {
  const out: Challenge[] = [];
  let rest = text;
  let current: Challenge | undefined;
  while (true) {
    rest = rest.replace(/^[\s,]+/, '');
    if (rest === '') break;
    const token = TOKEN.exec(rest)?.[0];
    if (!token) break; // Garbage: keep what was understood so far.
    const after = rest.slice(token.length);
    if (/^\s*=/.test(after) && current) {
      rest = after.replace(/^\s*=\s*/, '');
      let value: string;
      if (rest.startsWith('"')) {
        let i = 1;
        value = '';
        while (i < rest.length && rest[i] !== '"') {
          if (rest[i] === '\\' && i + 1 < rest.length) i++;
          value += rest[i];
          i++;
        }
        rest = rest.slice(i + 1);
      } else {
        value = /^[^,\s]*/.exec(rest)![0];
        rest = rest.slice(value.length);
      }
      current.params[token.toLowerCase()] = value;
      continue;
    }
    // A new challenge: scheme, then optionally a token68 (which Basic/Bearer never use here).
    current = { scheme: token.toLowerCase(), params: {} };
    out.push(current);
    rest = after;
    const token68 = /^\s+([A-Za-z0-9\-._~+/]+=*)\s*(,|$)/.exec(rest);
    if (token68) {
      current.params[''] = token68[1];
      rest = rest.slice(token68[0].length);
    }
  }
  return out;
}

/** The challenge berth can answer, preferring bearer tokens to basic auth. */
export function pickChallenge(challenges: Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
}

/** Scope strings of the token spec: `repository:library/alpine:pull,push`. */
export function repositoryScope(repository: string, actions: Array<'pull' | 'push'>): string {
  return `repository:${repository}:${actions.join(',')}`;
}

/**
 * A session with one registry: which scheme answers, what it challenges with, and the bearer
 * tokens obtained so far (per scope set). Flow of the distribution spec and the Docker token
 * spec: ping `GET /v2/`; a 401 carries `WWW-Authenticate`; Basic is answered with the stored
 * credentials, Bearer with a token fetched from the challenge's realm (with the credentials as
 * basic auth, anonymously when there are none, or by POSTing an identity token); a 401 on a
 * later request refreshes the challenge and token once before it becomes an error.
 */
export interface RegistrySession {
  registry: string;
  policy: HostPolicy;
  options: RegistryOptions;
  /** `https://host/` or `http://host/`, decided by the ping. */
  base: URL;
  challenge?: Challenge;
  /** undefined: not looked up yet; null: none (anonymous). */
  credentials?: Credentials | null;
  tokens: Map<string, { value: string; expires: number }>;
}

export interface CallRequest {
  method: HttpRequest['method'];
  /** Path under the base (`/v2/…`) or an absolute URL (upload locations). */
  path: string | URL;
  headers?: Record<string, string>;
  body?: HttpRequest['body'];
  /** Token scopes the request needs (`repository:x:pull`). */
  scopes: string[];
  context: RequestContext;
  /** Override the session's attempt count (1 for requests that must not be replayed). */
  attempts?: number;
}

const MAX_TOKEN_RESPONSE = 1 << 20;

async function ping(policy: HostPolicy, base: URL, options: RegistryOptions, attempts: number): Promise<HttpResponse> {
  return send(policy, { method: 'GET', url: new URL('/v2/', base), attempts, backoffMs: options.backoffMs, signal: options.signal }, { registry: policy.registry, what: 'API check' });
}

/** Opens a session: pings `/v2/` over HTTPS, or HTTP where that is allowed and HTTPS fails. */
export async function openSession(registry: string, options: RegistryOptions = {}): Promise<RegistrySession> {
  const policy = hostPolicy(registry, options);
  const attempts = options.attempts ?? 4;
  let response: HttpResponse;
  let base = new URL(`https://${policy.apiHost}/`);
  try {
    // With an HTTP fallback in hand, one HTTPS try is enough to learn the host speaks no TLS.
    response = await ping(policy, base, options, policy.allowHttp ? 1 : attempts);
  } catch (error) {
    const certificate = error instanceof RegistryError && error.final;
    if (!policy.allowHttp || certificate || isCertificateError(error) || options.signal?.aborted) throw error;
    base = new URL(`http://${policy.apiHost}/`);
    try {
      response = await ping(policy, base, options, attempts);
    } catch (second) {
      throw new RegistryError(`cannot reach registry ${registry} over HTTPS (${(error as Error).message}) or HTTP (${(second as Error).message})`, 0);
    }
  }
  const session: RegistrySession = { registry, policy, options, base, tokens: new Map() };
  if (response.status === 401) session.challenge = pickChallenge(parseChallenges(response.headers['www-authenticate']));
  else if (response.status >= 500) throw responseError(response.status, await readText(response), { registry, what: 'API check (GET /v2/)' });
  drain(response);
  return session;
}

async function credentialsOf(session: RegistrySession): Promise<Credentials | undefined> {
  if (session.credentials === undefined) session.credentials = (await getCredentials(session.registry, session.options)) ?? null;
  return session.credentials ?? undefined;
}

function basicHeader(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username ?? ''}:${credentials.password ?? ''}`).toString('base64')}`;
}

/** Fetches a bearer token for `scopes` from the challenge's realm. */
async function fetchToken(session: RegistrySession, challenge: Challenge, scopes: string[]): Promise<{ value: string; expires: number }> {
  const realm = challenge.params.realm;
  if (!realm) throw new RegistryError(`${session.registry} sent a Bearer challenge without a realm`, 401);
  const url = new URL(realm);
  const credentials = await credentialsOf(session);
  const context: RequestContext = { registry: session.registry, what: `token${scopes.length ? ` for ${scopes.join(' ')}` : ''} from ${url.host}` };
  const common = { attempts: session.options.attempts, backoffMs: session.options.backoffMs, signal: session.options.signal };
  let response: HttpResponse;
  if (credentials?.identityToken) {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: credentials.identityToken, client_id: 'berth' });
    if (challenge.params.service) form.set('service', challenge.params.service);
    if (scopes.length) form.set('scope', scopes.join(' '));
    const body = Buffer.from(form.toString());
    response = await send(session.policy, {
      method: 'POST', url, body, ...common,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length) },
    }, context);
  } else {
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    if (credentials?.username !== undefined) url.searchParams.set('account', credentials.username);
    const headers: Record<string, string> = credentials?.username !== undefined ? { authorization: basicHeader(credentials) } : {};
    response = await send(session.policy, { method: 'GET', url, headers, ...common }, context);
  }
  if (response.status !== 200) throw responseError(response.status, await readText(response), context, credentials !== undefined);
  const parsed = JSON.parse((await readBuffer(response, MAX_TOKEN_RESPONSE)).toString('utf8')) as { token?: string; access_token?: string; expires_in?: number };
  const value = parsed.token ?? parsed.access_token;
  if (!value) throw new RegistryError(`token server ${url.host} for ${session.registry} answered without a token`, 200);
  // Tokens live at least 60 s by the spec; renew a little early.
  const lifetime = Math.max(60, parsed.expires_in ?? 60);
  return { value, expires: Date.now() + (lifetime - 10) * 1000 };
}

/** The Authorization header for a request needing `scopes`, or undefined to go without. */
export async function authorization(session: RegistrySession, scopes: string[]): Promise<string | undefined> {
  const challenge = session.challenge;
  if (!challenge) return undefined;
  if (challenge.scheme === 'basic') {
    const credentials = await credentialsOf(session);
    return credentials?.username !== undefined ? basicHeader(credentials) : undefined;
  }
  if (challenge.scheme !== 'bearer') return undefined;
  const key = [...scopes].sort().join(' ');
  const cached = session.tokens.get(key);
  if (cached && cached.expires > Date.now()) return `Bearer ${cached.value}`;
  const token = await fetchToken(session, challenge, scopes);
  session.tokens.set(key, token);
  return `Bearer ${token.value}`;
}

/** True when the session would send credentials (for error advice). */
export function hasCredentials(session: RegistrySession): boolean {
  return session.credentials !== undefined && session.credentials !== null;
}

/**
 * Sends an authorised request. A 401 refreshes the challenge (the registry may want another
 * scheme or scope) and retries once; the final response is returned whatever its status.
 */
export async function call(session: RegistrySession, request: CallRequest): Promise<HttpResponse> {
  const url = request.path instanceof URL ? request.path : new URL(request.path, session.base);
  let scopes = request.scopes;
  for (let round = 0; ; round++) {
    const auth = await authorization(session, scopes);
    const response = await send(session.policy, {
      method: request.method, url, body: request.body,
      headers: { ...(request.headers ?? {}), ...(auth ? { authorization: auth } : {}) },
      attempts: request.attempts ?? session.options.attempts, backoffMs: session.options.backoffMs, signal: session.options.signal,
    }, request.context);
    if (response.status !== 401 || round > 0) return response;
    const challenge = pickChallenge(parseChallenges(response.headers['www-authenticate']));
    if (!challenge) return response;
    const sameBasic = challenge.scheme === 'basic' && session.challenge?.scheme === 'basic' && auth !== undefined;
    if (sameBasic) return response; // The credentials were refused; asking again changes nothing.
    if (challenge.params.scope) scopes = [...new Set([...scopes, ...challenge.params.scope.split(' ')])];
    session.challenge = challenge;
    session.tokens.delete([...scopes].sort().join(' '));
    drain(response);
  }
}

/** Checks credentials the way `docker login` does: authenticate once, without a repository scope. */
export async function verifyLogin(session: RegistrySession): Promise<void> {
  const challenge = session.challenge;
  if (!challenge) return; // The registry wants no authentication: logging in is a formality.
  const context: RequestContext = { registry: session.registry, what: 'login' };
  if (challenge.scheme === 'bearer') {
    await fetchToken(session, challenge, []);
    return;
  }
  const response = await call(session, { method: 'GET', path: '/v2/', scopes: [], context });
  if (response.status !== 200) throw responseError(response.status, await readText(response), context, hasCredentials(session));
  drain(response);
}

/**
 * `berth login` / `berth logout`. Login checks the credentials against the registry first (a
 * Basic-protected `GET /v2/`, or a token request to the bearer realm) so a typo is reported now,
 * not at the next push; only then are they stored where Docker would store them.
 */

/** `https://index.docker.io/v1/`, `docker.io`, `HOST:PORT/` and friends → the registry name. */
export function normalizeRegistry(text: string | undefined): string {
  if (!text) return DOCKER_HUB;
  const host = text.trim().replace(/^[a-z]+:\/\//i, '').split('/')[0];
  if (!host) throw new BuildError(`invalid registry "${text}"`);
  if (host === 'index.docker.io' || host === 'registry-1.docker.io') return DOCKER_HUB;
  return host;
}

export interface LoginResult {
  registry: string;
  /** Where the credentials went: config.json's path or the helper's name. */
  storedIn: string;
}

export async function login(
  registryText: string | undefined, credentials: { username: string; password: string }, options: RegistryOptions = {},
): Promise<LoginResult> {
  const registry = normalizeRegistry(registryText);
  if (!credentials.username) throw new BuildError('login needs a username (-u)');
  if (!credentials.password) throw new BuildError('login needs a password (--password-stdin)');
  const session = await openSession(registry, { ...options, credentials });
  await verifyLogin(session);
  return { registry, storedIn: await storeCredentials(registry, credentials, options) };
}

/** Forgets the credentials for a registry; false when there were none. */
export async function logout(registryText: string | undefined, options: RegistryOptions = {}): Promise<boolean> {
  return eraseCredentials(normalizeRegistry(registryText), options);
}
