/**
 * Errors a registry conversation can end in. Every message names the registry, the repository
 * and the thing that was wanted, because "401 Unauthorized" alone tells a user nothing about
 * which of the several hosts a build talks to said no.
 */

/** What a request was about, for error messages. */
export interface RequestContext {
  /** Registry as the user names it (`docker.io`, `127.0.0.1:5000`). */
  registry: string;
  /** Repository path (`library/alpine`); absent for registry-wide requests (ping, login). */
  repository?: string;
  /** The thing wanted: `manifest latest`, `blob sha256:…`, `upload of sha256:…`. */
  what?: string;
}

export class RegistryError extends Error {
  /** HTTP status, or 0 when no response came (network, TLS). */
  readonly status: number;
  /** First error code from the registry's JSON body (`MANIFEST_UNKNOWN`, `DENIED`, …). */
  readonly code?: string;
  /** Set for failures no retry can fix (an untrusted certificate). */
  readonly final: boolean;
  constructor(message: string, status: number, code?: string, final = false) {
    super(message);
    this.name = 'RegistryError';
    this.status = status;
    this.code = code;
    this.final = final;
  }
}

/** True for errors worth trying again: dropped connections, timeouts, 5xx and 429. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof RegistryError) return !error.final && (error.status === 0 || error.status === 429 || error.status >= 500);
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && RETRYABLE_CODES.has(code);
}

const RETRYABLE_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH',
  'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE', 'BERTH_SHORT_READ',
]);

/** Certificate problems: never retried, never answered by falling back to plain HTTP. */
export function isCertificateError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
  return /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME|ISSUER/.test(code);
}

export function describeTarget(context: RequestContext): string {
  return context.repository ? `${context.registry}/${context.repository}` : context.registry;
}

interface RegistryErrorBody {
  errors?: Array<{ code?: string; message?: string; detail?: unknown }>;
}

/** The registry's own `{errors: [{code, message}]}` explanation, when the body carries one. */
export function parseErrorBody(body: string): { code?: string; message?: string } {
  try {
    const parsed = JSON.parse(body) as RegistryErrorBody;
    const first = parsed.errors?.[0];
    if (first) return { code: first.code, message: first.message };
  } catch {
    // Not JSON: plain text or HTML from a proxy.
  }
  const text = body.trim().slice(0, 200);
  return text ? { message: text } : {};
}

/**
 * An error for a response that was not what the request wanted. `hadCredentials` changes the
 * 401 advice: with none, log in; with some, they were refused.
 */
export function responseError(status: number, body: string, context: RequestContext, hadCredentials = false): RegistryError {
  const target = describeTarget(context);
  const what = context.what ?? 'request';
  const parsed = parseErrorBody(body);
  const detail = parsed.message ? ` (${parsed.code ? `${parsed.code}: ` : ''}${parsed.message})` : '';
  let message: string;
  switch (status) {
    case 401:
      message = hadCredentials
        ? `unauthorized: ${context.registry} refused the credentials for ${what} in ${target}${detail}; check them with \`berth login ${context.registry}\``
        : `unauthorized: ${what} in ${target} needs authentication${detail}; run \`berth login ${context.registry}\``;
      break;
    case 403:
      message = `denied: access to ${what} in ${target} is forbidden${detail}`;
      break;
    case 404:
      message = `not found: ${what} does not exist in ${target}${detail}`;
      break;
    default:
      message = `${what} in ${target} failed: HTTP ${status}${detail}`;
  }
  return new RegistryError(message, status, parsed.code);
}

/** An error for a request that got no response at all. */
export function networkError(error: unknown, context: RequestContext, url: string): RegistryError {
  const cause = error as NodeJS.ErrnoException;
  const code = cause?.code ? `${cause.code}: ` : '';
  if (isCertificateError(error)) {
    const host = new URL(url).host;
    return new RegistryError(
      `TLS certificate of ${host} is not trusted (${code}${cause.message}); put its CA in /etc/docker/certs.d/${host}/ca.crt or ` +
        `BERTH_REGISTRY_CA, or name the registry with --insecure-registry`,
      0, undefined, true,
    );
  }
  const what = context.what ? `${context.what} in ` : '';
  return new RegistryError(`cannot reach ${what}${describeTarget(context)} at ${url}: ${code}${cause?.message ?? String(error)}`, 0);
}
