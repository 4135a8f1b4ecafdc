/**
 * `--add-host`, `--shm-size` and `--ulimit`, read as `docker buildx build` and `docker run` read
 * them, into the options every RUN (or the container) gets.
 */
import { isIP } from 'node:net';
import type { RunSandboxOptions, Ulimit } from '../plan/index.ts';
import { BuildError } from '../source/index.ts';
import { parseSize } from '../text/units.ts';

const ULIMIT_NAMES = new Set([
  'as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime',
  'sigpending', 'stack',
]);

/** `name:ip` or `name=ip` (an IPv6 address may be bracketed); `host-gateway` has no meaning here. */
export function parseAddHost(text: string): { host: string; ip: string } {
  const at = text.search(/[:=]/);
  const host = at < 0 ? '' : text.slice(0, at);
  let ip = at < 0 ? '' : text.slice(at + 1);
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  if (ip === 'host-gateway') {
    // berth's RUN network reaches the internet, never the host itself (its loopback is shut off).
    throw new BuildError(`invalid --add-host "${text}": host-gateway: a berth RUN has no gateway to the host (use --network host to reach it)`);
  }
  if (!host || /\s/.test(host) || isIP(ip) === 0) throw new BuildError(`invalid --add-host "${text}": use NAME:IP (for example db:10.0.0.5)`);
  return { host, ip };
}

function ulimitValue(text: string, flag: string): number {
  if (text === 'unlimited' || text === '-1') return -1;
  if (!/^\d+$/.test(text)) throw new BuildError(`invalid --ulimit "${flag}": "${text}" is not a number`);
  return Number(text);
}

/** `nofile=1024[:2048]` (soft[:hard]; the hard limit defaults to the soft one), `-1` unlimited. */
export function parseUlimit(text: string): Ulimit {
  const eq = text.indexOf('=');
  const name = text.slice(0, Math.max(eq, 0));
  if (eq < 0 || !ULIMIT_NAMES.has(name)) {
    throw new BuildError(`invalid --ulimit "${text}": use NAME=SOFT[:HARD] with NAME one of ${[...ULIMIT_NAMES].join(', ')}`);
  }
  const [softText, hardText = softText, ...rest] = text.slice(eq + 1).split(':');
  if (rest.length) throw new BuildError(`invalid --ulimit "${text}": too many values`);
  const soft = ulimitValue(softText, text);
  const hard = ulimitValue(hardText, text);
  if (hard >= 0 && (soft < 0 || soft > hard)) throw new BuildError(`invalid --ulimit "${text}": the soft limit is above the hard one`);
  return { name, soft, hard };
}

/** The RUN options the flags give; undefined when none was given (cache keys stay as before). */
export function runSandboxOptions(flags: { addHost: string[]; shmSize?: string; ulimit: string[] }): RunSandboxOptions | undefined {
  const out: RunSandboxOptions = {};
  if (flags.addHost.length) out.extraHosts = flags.addHost.map(parseAddHost);
  if (flags.shmSize !== undefined) {
    const size = parseSize(flags.shmSize);
    if (size === undefined || size <= 0) throw new BuildError(`invalid --shm-size "${flags.shmSize}" (a size like 128m or 1g)`);
    out.shmSize = size;
  }
  if (flags.ulimit.length) {
    // One entry per resource, the last given winning, as Docker's map of them does.
    const byName = new Map(flags.ulimit.map(parseUlimit).map((u) => [u.name, u]));
    out.ulimits = [...byName.values()];
  }
  return Object.keys(out).length ? out : undefined;
}
