import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { isRetryable, networkError, RegistryError, type RequestContext } from './errors.ts';
import { agentFor, type HostPolicy } from './hosts.ts';

/**
 * One HTTP exchange with a registry over node:http(s) (custom CAs and per-host agents need them;
 * global fetch takes neither). Requests whose body can be produced again are retried with
 * exponential backoff on 5xx, 429 and dropped connections; GET and HEAD follow redirects
 * (registries send blob downloads to object storage), dropping Authorization on a host change.
 */

export type BodySource = Buffer | (() => Readable | Promise<Readable>);

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: URL;
  headers?: Record<string, string>;
  /** A buffer, or a factory called once per attempt (set Content-Length in headers for streams). */
  body?: BodySource;
  /** Attempts on retryable failures (1 = no retry). */
  attempts?: number;
  backoffMs?: number;
  signal?: AbortSignal;
  /** Idle socket timeout in ms (default 60 s). */
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  /** The URL that answered (after redirects). */
  url: URL;
}

const MAX_REDIRECTS = 8;
const MAX_ERROR_BODY = 64 * 1024;

function once(policy: HostPolicy, request: HttpRequest, url: URL, headers: Record<string, string>): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const transport = url.protocol === 'http:' ? http : https;
    const req = transport.request(url, {
      method: request.method,
      headers,
      agent: agentFor(url, policy),
      signal: request.signal,
      timeout: request.timeoutMs ?? 60_000,
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no data from ${url.host} for ${(request.timeoutMs ?? 60_000) / 1000}s`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.on('response', (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url }));
    const body = request.body;
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else {
      Promise.resolve(body()).then((stream) => {
        stream.on('error', (error) => req.destroy(error));
        stream.pipe(req);
      }, (error: unknown) => req.destroy(error as Error));
    }
  });
}

/** Reads a response body to a string, at most 64 KiB (error bodies only). */
export async function readText(response: HttpResponse, limit = MAX_ERROR_BODY): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    if (size < limit) chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, limit);
}

/** Reads a whole body (manifests, configs, tokens), refusing more than `limit` bytes. */
export async function readBuffer(response: HttpResponse, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      response.body.destroy();
      throw new RegistryError(`response from ${response.url.host} is larger than ${limit} bytes`, response.status);
    }
    chunks.push(chunk as Buffer);
  }
  const expected = Number(response.headers['content-length']);
  if (Number.isFinite(expected) && response.headers['content-length'] !== undefined && expected !== size) {
    throw Object.assign(new Error(`short read from ${response.url.host}: ${size} of ${expected} bytes`), { code: 'BERTH_SHORT_READ' });
  }
  return Buffer.concat(chunks);
}

/** Discards a body so the connection can be reused. */
export function drain(response: HttpResponse): void {
  response.body.resume();
  response.body.on('error', () => undefined);
}

export function retryDelay(attempt: number, baseMs: number, retryAfter?: string): number {
  const seconds = Number(retryAfter);
  if (retryAfter !== undefined && Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, 30_000);
  const exponential = baseMs * 2 ** (attempt - 1);
  return Math.min(exponential + Math.random() * baseMs, 30_000);
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/**
 * Sends a request; follows redirects for GET/HEAD; retries retryable failures when the body can
 * be replayed. The final response is returned whatever its status (callers decide what is an
 * error); only a request that never got a response throws (a RegistryError with status 0).
 */
export async function send(policy: HostPolicy, request: HttpRequest, context: RequestContext): Promise<HttpResponse> {
  const attempts = Math.max(1, request.attempts ?? 4);
  const backoff = request.backoffMs ?? 250;
  for (let attempt = 1; ; attempt++) {
    let response: HttpResponse;
    try {
      response = await sendFollowing(policy, request, context);
    } catch (error) {
      const wrapped = error instanceof RegistryError ? error : networkError(error, context, request.url.href);
      if (request.signal?.aborted) throw request.signal.reason ?? wrapped;
      if (attempt >= attempts || !isRetryable(wrapped)) throw wrapped;
      await sleep(retryDelay(attempt, backoff), undefined, { signal: request.signal });
      continue;
    }
    const transient = response.status >= 500 || response.status === 429;
    if (!transient || attempt >= attempts) return response;
    drain(response);
    await sleep(retryDelay(attempt, backoff, response.headers['retry-after'] as string | undefined), undefined, { signal: request.signal });
  }
}

async function sendFollowing(policy: HostPolicy, request: HttpRequest, context: RequestContext): Promise<HttpResponse> {
  let url = request.url;
  let headers: Record<string, string> = { 'user-agent': 'berth/0.1', ...(request.headers ?? {}) };
  for (let hop = 0; ; hop++) {
    let response: HttpResponse;
    try {
      response = await once(policy, request, url, headers);
    } catch (error) {
      if (error instanceof Error && error.name === 'AbortError') throw error;
      throw networkError(error, context, url.href);
    }
    const location = response.headers.location;
    const follow = (request.method === 'GET' || request.method === 'HEAD') && isRedirect(response.status) && location;
    if (!follow) return response;
    drain(response);
    if (hop >= MAX_REDIRECTS) throw new RegistryError(`too many redirects from ${request.url.host} for ${context.what ?? 'request'}`, response.status);
    const next = new URL(location, url);
    if (next.host !== url.host) {
      // Credentials are for the registry, never for the storage it redirects to.
      headers = Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'authorization'));
    }
    url = next;
  }
}
