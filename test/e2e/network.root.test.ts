/**
 * The default network of RUN and `berth run` is a namespace of the container's own (user-mode
 * networking outward), as `docker build` gives: what listens on the host's loopback, the host's
 * abstract unix sockets and the host's traffic are out of reach, while outbound connections and
 * DNS work. The host's network is an entitlement (`--allow network.host`).
 *
 * Each attack here succeeded when berth's default network was the host's (the tests failed
 * against that code: the build printed the loopback service's secret, connected to the abstract
 * socket and saw the marker on host loopback).
 */
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox } from './harness.ts';

const SECRET = 'host-loopback-secret-4711';
const ABSTRACT = `berth-test-abstract-${process.pid}`;
const MARKER = `berth-sniff-marker-${process.pid}`;

let box: Sandbox;
let probe: string;
let loopbackServer: Server;
let loopbackPort: number;
let outsideServer: Server | undefined;
let outside: string; // "IP PORT" for the probe
let abstractServer: NetServer;

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as { port: number }).port)));
}

/** The host's first non-loopback IPv4 address: "the outside world" the container must reach. */
function outsideAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const entry of list ?? []) if (entry.family === 'IPv4' && !entry.internal) return entry.address;
  }
  throw new Error('this machine has no non-loopback IPv4 address to test outbound networking with');
}

beforeAll(async () => {
  box = await makeSandbox();
  probe = path.join(box.dir, 'netprobe');
  execFileSync('gcc', ['-static', '-O2', '-o', probe, path.join(import.meta.dirname, 'probes/netprobe.c')]);
  loopbackServer = createHttpServer((_req, res) => res.end(SECRET));
  loopbackPort = await listen(loopbackServer, '127.0.0.1');
  const address = outsideAddress();
  outsideServer = createHttpServer((_req, res) => res.end('outside-ok'));
  outside = `${address} ${await listen(outsideServer, address)}`;
  abstractServer = createNetServer((socket) => socket.end('abstract-secret'));
  await new Promise<void>((resolve) => abstractServer.listen(`\0${ABSTRACT}`, resolve));
}, 120_000);

afterAll(() => {
  loopbackServer?.close();
  outsideServer?.close();
  abstractServer?.close();
  box?.cleanup();
});

/** A context with the probe and a Dockerfile of `lines` after FROM busybox. */
function context(lines: string[]): string {
  const dir = box.context({ Dockerfile: ['FROM busybox:local', 'COPY netprobe /netprobe', ...lines, ''].join('\n') });
  execFileSync('cp', [probe, path.join(dir, 'netprobe')]);
  return dir;
}

async function build(lines: string[], flags: string[] = []) {
  return box.berth(['build', '--progress', 'plain', '--no-cache', ...flags, context(lines)]);
}

describe('the default network of RUN', () => {
  it('does not reach a service on the host loopback', async () => {
    const result = await build([`RUN /netprobe http 127.0.0.1 ${loopbackPort} x / || true`]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toContain(SECRET);
    expect(result.stderr).toContain('unreachable');
  });

  it('does not reach the host loopback through the gateway address either', async () => {
    const result = await build([`RUN /netprobe http 10.0.2.2 ${loopbackPort} x / || true`]);
    expect(result.stderr).not.toContain(SECRET);
    expect(result.stderr).toContain('unreachable');
  });

  it('does not reach a host abstract unix socket', async () => {
    const result = await build([`RUN /netprobe abstract ${ABSTRACT} || true`]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/connect: Connection refused/);
    expect(result.stderr).not.toMatch(/\bconnected\b/);
  });

  it('does not see host loopback traffic with an AF_PACKET socket', async () => {
    const sender = createSocket('udp4');
    const timer = setInterval(() => sender.send(MARKER, 9, '127.0.0.1'), 20);
    try {
      const result = await build(['RUN /netprobe sniff ' + MARKER + ' 1500']);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toContain('not seen');
    } finally {
      clearInterval(timer);
      sender.close();
    }
  });

  it('has its own interface, a default route and outbound access', async () => {
    const result = await build([`RUN ip addr; ip route; /netprobe http ${outside} x /`]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/eth0/);
    expect(result.stderr).toMatch(/default via 10\.0\.2\.2/);
    expect(result.stderr).toContain('outside-ok');
  });

  it('resolves names and fetches from the internet (Debian mirror)', async () => {
    const result = await build([
      'RUN ip=$(nslookup deb.debian.org | awk \'/^Address: /{print $2}\' | grep -v : | head -1) && echo "resolved $ip"'
      + ' && /netprobe http $ip 80 deb.debian.org /debian/dists/bookworm/Release | head -12',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/Origin: Debian/);
  });

  it('leaves no slirp4netns process behind', async () => {
    await build(['RUN true']);
    const left = execFileSync('sh', ['-c', `pgrep -a slirp4netns || true`], { encoding: 'utf8' });
    expect(left.split('\n').filter((l) => l.includes(box.dir))).toEqual([]);
    // Each slirp4netns ends with its build: none whose parent is gone may remain.
    const orphans = execFileSync('sh', ['-c', 'for p in $(pgrep slirp4netns); do ps -o ppid= -p $p; done'], { encoding: 'utf8' });
    expect(orphans.split('\n').map((s) => s.trim()).filter((s) => s === '1')).toEqual([]);
  });
});

describe('network modes and entitlements', () => {
  it('keeps --network none to loopback only', async () => {
    const result = await build(['RUN cat /proc/net/dev'], ['--network', 'none']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/eth0:/);
  });

  it('refuses --network host without --allow network.host', async () => {
    const result = await build(['RUN true'], ['--network', 'host']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--allow network.host');
  });

  it('refuses RUN --network=host without the entitlement, with the location', async () => {
    const result = await build(['RUN --network=host true']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/Dockerfile:3:1/);
    expect(result.stderr).toContain('network.host entitlement');
  });

  it('gives the host network with the entitlement', async () => {
    const result = await build([`RUN --network=host /netprobe http 127.0.0.1 ${loopbackPort} x /`], ['--allow', 'network.host']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(SECRET);
  });

  it('does not reuse a step cached under another network mode', async () => {
    const ctx = context(['RUN cat /proc/net/dev > /net']);
    const none = await box.berth(['build', '--network', 'none', '-t', 'net:none', ctx]);
    expect(none.code, none.stderr).toBe(0);
    const sandbox = await box.berth(['build', '-t', 'net:sandbox', ctx]);
    expect(sandbox.code, sandbox.stderr).toBe(0);
    const shown = await box.berth(['run', 'net:sandbox', 'cat', '/net']);
    expect(shown.stdout).toMatch(/eth0:/);
    // --network host and --network none do not stand in for each other either way.
    const hostCtx = context(['RUN cat /proc/net/dev > /net2']);
    const host = await box.berth(['build', '--network', 'host', '--allow', 'network.host', '-t', 'net:host', hostCtx]);
    expect(host.code, host.stderr).toBe(0);
    const none2 = await box.berth(['build', '--progress', 'plain', '--network', 'none', '-t', 'net:none2', hostCtx]);
    expect(none2.stderr).not.toMatch(/RUN cat \/proc\/net\/dev > \/net2\n#\d+ CACHED/);
    expect((await box.berth(['run', '--network', 'none', 'net:none2', 'cat', '/net2'])).stdout).not.toMatch(/eth0:/);
    const host2 = await box.berth(['build', '--progress', 'plain', '--network', 'host', '--allow', 'network.host', '-t', 'net:host2', hostCtx]);
    expect(host2.stderr).toMatch(/RUN cat \/proc\/net\/dev > \/net2\n#\d+ CACHED/);
  });
});

describe('berth run', () => {
  it('runs in a network of its own by default', async () => {
    const image = await box.berth(['build', '-t', 'probe:local', context([])]);
    expect(image.code, image.stderr).toBe(0);
    const result = await box.berth(['run', 'probe:local', 'sh', '-c', `/netprobe http 127.0.0.1 ${loopbackPort} x /; /netprobe http ${outside} x /`]);
    expect(result.stdout).not.toContain(SECRET);
    expect(result.stdout).toContain('unreachable');
    expect(result.stdout).toContain('outside-ok');
  });
});
