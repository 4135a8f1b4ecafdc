/** The Node-side decisions and the wire format for the native helper (no root needed). */
import { describe, expect, it } from 'vitest';
import { containerResolvConf, defaultHosts, encodeSpec, type ContainerSpec, type MountSpec } from '../../src/exec/index.ts';
import { decodePairs } from '../../src/exec/spec.ts';
import { DEFAULT_CAPABILITIES } from '../../src/exec/spec.ts';

const base: ContainerSpec = {
  rootfs: { kind: 'overlay', lowerDirs: ['/l/top', '/l/bottom'], upperDir: '/a/fs', workDir: '/a/work' },
  args: ['/bin/sh', '-c', 'echo "a b"'],
  env: ['PATH=/bin', 'EMPTY='],
  cwd: '/work',
  uid: 1000,
  gid: 1000,
  groups: [1000, 27],
  hostname: 'buildkitsandbox',
  network: 'none',
  hosts: 'h\n',
  resolvConf: 'r\n',
};

function values(spec: ContainerSpec, key: string): string[] {
  return decodePairs(encodeSpec(spec, 42))
    .filter(([k]) => k === key)
    .map(([, v]) => v);
}

describe('encodeSpec', () => {
  it('encodes NUL-separated key/value pairs, lists in order', () => {
    const pairs = decodePairs(encodeSpec(base, 42));
    expect(pairs[0]).toEqual(['ppid', '42']);
    expect(values(base, 'lower')).toEqual(['/l/top', '/l/bottom']);
    expect(values(base, 'arg')).toEqual(['/bin/sh', '-c', 'echo "a b"']);
    expect(values(base, 'env')).toEqual(['PATH=/bin', 'EMPTY=']);
    expect(values(base, 'group')).toEqual(['1000', '27']);
    expect(values(base, 'upper')).toEqual(['/a/fs']);
    expect(values(base, 'hosts')).toEqual(['h\n']);
    expect(values(base, 'ovlopt')).toContain('redirect_dir=off');
  });

  it("passes docker's default capability set (0xa80425fb)", () => {
    const mask = values(base, 'cap').reduce((acc, cap) => acc | (1n << BigInt(cap)), 0n);
    expect(mask).toBe(0xa80425fbn);
    expect(Object.keys(DEFAULT_CAPABILITIES)).toHaveLength(14);
  });

  it('encodes mounts as a "mount" key followed by its fields', () => {
    const spec: ContainerSpec = {
      ...base,
      mounts: [
        { kind: 'bind', source: '/src', target: '/dst', readonly: true },
        { kind: 'tmpfs', target: '/tmp', size: 4096 },
      ],
    };
    const pairs = decodePairs(encodeSpec(spec, 1));
    const start = pairs.findIndex(([k]) => k === 'mount');
    expect(pairs.slice(start)).toEqual([
      ['mount', 'bind'],
      ['dst', '/dst'],
      ['src', '/src'],
      ['ro', '1'],
      ['mount', 'tmpfs'],
      ['dst', '/tmp'],
      ['data', 'size=4096,mode=1777'],
    ]);
  });

  it('encodes a dir rootfs', () => {
    const spec: ContainerSpec = { ...base, rootfs: { kind: 'dir', path: '/r', readonly: true } };
    expect(values(spec, 'path')).toEqual(['/r']);
    expect(values(spec, 'readonly')).toEqual(['1']);
    expect(values(spec, 'lower')).toEqual([]);
  });

  it('rejects what the helper could not represent or would only fail on', () => {
    expect(() => encodeSpec({ ...base, args: ['a\0b'] })).toThrow(/NUL/);
    expect(() => encodeSpec({ ...base, args: [] })).toThrow(/no command/);
    expect(() => encodeSpec({ ...base, cwd: 'relative' })).toThrow(/not absolute/);
    expect(() => encodeSpec({ ...base, uid: -1 })).toThrow(/numeric id/);
    expect(() => encodeSpec({ ...base, rootfs: { ...base.rootfs, lowerDirs: [] } as ContainerSpec['rootfs'] })).toThrow(/lower/);
    expect(() => encodeSpec({ ...base, mounts: [{ kind: 'tmpfs', target: 'x' }] })).toThrow(/not absolute/);
  });

  it('fills in default hosts and resolv.conf', () => {
    const spec: ContainerSpec = { ...base, hosts: undefined, resolvConf: undefined };
    expect(values(spec, 'hosts')).toEqual([defaultHosts('buildkitsandbox')]);
    expect(values(spec, 'resolv')[0]).toMatch(/nameserver/);
  });
});

describe('generated files', () => {
  it('maps localhost and the hostname in /etc/hosts', () => {
    expect(defaultHosts('box')).toBe('127.0.0.1\tlocalhost box\n::1\tlocalhost ip6-localhost ip6-loopback\n');
    expect(defaultHosts('')).toBe('127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n');
  });

  it('drops loopback nameservers outside the host network and falls back to public ones', () => {
    const host = 'search example.com\nnameserver 127.0.0.53\noptions edns0\n';
    expect(containerResolvConf(host, 'host')).toBe(host);
    const none = containerResolvConf(host, 'none');
    expect(none).toContain('search example.com\n');
    expect(none).not.toContain('127.0.0.53');
    expect(none).toContain('nameserver 8.8.8.8\n');
    // The sandbox network has a DNS forwarder of its own that asks the host's resolvers.
    const sandbox = containerResolvConf(host, 'sandbox');
    expect(sandbox).toBe('search example.com\noptions edns0\nnameserver 10.0.2.3\n');
    expect(containerResolvConf('nameserver 10.0.0.2\n', 'sandbox')).toBe('nameserver 10.0.0.2\n');
    expect(containerResolvConf('nameserver 10.0.0.2\n', 'none')).toBe('nameserver 10.0.0.2\n');
    expect(containerResolvConf('', 'none')).toBe(
      'nameserver 8.8.8.8\nnameserver 8.8.4.4\nnameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844\n',
    );
  });
});

// RUN --mount kinds, privileged runs and locks.
const runBase: ContainerSpec = {
  rootfs: { kind: 'overlay', lowerDirs: ['/l'], upperDir: '/u', workDir: '/w' },
  args: ['true'], env: [], cwd: '/', uid: 0, gid: 0, groups: [], hostname: 'h', network: 'none', hosts: '', resolvConf: '',
};

function pairsFrom(key: string, spec: ContainerSpec): Array<[string, string]> {
  const pairs = decodePairs(encodeSpec(spec, 1));
  return pairs.slice(pairs.findIndex(([k]) => k === key));
}

function withMounts(mounts: MountSpec[]): ContainerSpec {
  return { ...runBase, mounts };
}

describe('mount encoding', () => {
  it('lists an overlay mount\'s layers, upper and subpath after its "mount" key', () => {
    const spec = withMounts([{ kind: 'overlay', lowerDirs: ['/b', '/a'], target: '/m', readonly: false, upperDir: '/mu', workDir: '/mw', subpath: 'x/y', keepStubDirs: true }]);
    expect(pairsFrom('mount', spec)).toEqual([
      ['mount', 'overlay'], ['dst', '/m'], ['keepdirs', '1'], ['mlower', '/b'], ['mlower', '/a'],
      ['mupper', '/mu'], ['mwork', '/mw'], ['ro', '0'], ['subpath', 'x/y'],
    ]);
  });

  it('encodes file mounts as read-only hex with owner and mode', () => {
    const spec = withMounts([{ kind: 'file', target: '/run/secrets/s', content: Buffer.from('hi\n'), mode: 0o400, uid: 5, gid: 6 }]);
    expect(pairsFrom('mount', spec)).toEqual([
      ['mount', 'file'], ['dst', '/run/secrets/s'], ['ro', '1'], ['content', '68690a'], ['fmode', String(0o400)], ['fuid', '5'], ['fgid', '6'],
    ]);
  });

  it('checks overlay mounts before the helper sees them', () => {
    expect(() => encodeSpec(withMounts([{ kind: 'overlay', lowerDirs: ['/a'], target: '/m', readonly: true }]))).toThrow(/needs two lower dirs/);
    expect(() => encodeSpec(withMounts([{ kind: 'overlay', lowerDirs: ['/a'], target: '/m', readonly: false, upperDir: '/u' }]))).toThrow(/both upperDir and workDir/);
    expect(() => encodeSpec(withMounts([{ kind: 'overlay', lowerDirs: ['/a', '/b'], target: 'm', readonly: true }]))).toThrow(/not absolute/);
  });
});

describe('privileged and locks', () => {
  it('sends no capability list, masks or read-only paths for a privileged run', () => {
    const keys = decodePairs(encodeSpec({ ...runBase, privileged: true }, 1)).map(([k]) => k);
    expect(keys).toContain('privileged');
    expect(keys.filter((k) => k === 'cap' || k === 'mask' || k === 'ropath')).toEqual([]);
    const normal = decodePairs(encodeSpec(runBase, 1)).map(([k]) => k);
    expect(normal).not.toContain('privileged');
    expect(normal).toContain('cap');
  });

  it('sends locks in the order given, exclusive or shared', () => {
    const pairs = decodePairs(encodeSpec({ ...runBase, locks: [{ path: '/a.lock', shared: true }, { path: '/b.lock', shared: false }] }, 1));
    expect(pairs.filter(([k]) => k.startsWith('lock'))).toEqual([['lockshared', '/a.lock'], ['lock', '/b.lock']]);
  });
});
