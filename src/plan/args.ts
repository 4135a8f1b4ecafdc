/** Build arguments: command-line values, Docker's predefined ones and the automatic platform ones. */

export const TARGET_PLATFORM = 'linux/amd64';

/** Usable in RUN without an ARG line, and kept out of history (Docker's predefined args). */
export const PROXY_ARGS = new Set([
  'HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy',
  'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy',
]);

/** Defined in the global scope automatically; a stage sees them only when it redeclares them. */
export function platformArgs(): Map<string, string> {
  return new Map([
    ['TARGETPLATFORM', TARGET_PLATFORM], ['TARGETOS', 'linux'], ['TARGETARCH', 'amd64'], ['TARGETVARIANT', ''],
    ['BUILDPLATFORM', TARGET_PLATFORM], ['BUILDOS', 'linux'], ['BUILDARCH', 'amd64'], ['BUILDVARIANT', ''],
  ]);
}

/** Normalises a platform string; undefined when it is not one berth builds. */
export function normalizePlatform(text: string): string | undefined {
  const parts = text.trim().toLowerCase().split('/');
  const os = parts[0];
  const arch = parts[1] ?? 'amd64';
  if (os !== 'linux') return undefined;
  if (arch !== 'amd64' && arch !== 'x86_64' && arch !== 'x86-64') return undefined;
  if (parts.length > 2 && parts[2] !== '' && parts[2] !== 'v1') return undefined;
  return TARGET_PLATFORM;
}

/**
 * `--build-arg K=V` values; `--build-arg K` takes K from berth's own environment and is dropped
 * when that is unset, as docker build does.
 */
export function parseBuildArgs(pairs: readonly string[], processEnv: NodeJS.ProcessEnv = process.env): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq >= 0) out.set(pair.slice(0, eq), pair.slice(eq + 1));
    else if (processEnv[pair] !== undefined) out.set(pair, processEnv[pair] as string);
  }
  return out;
}
