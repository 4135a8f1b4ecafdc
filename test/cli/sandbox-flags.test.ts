import { describe, expect, it } from 'vitest';
import { parseAddHost, parseUlimit, resourceLimits, runSandboxOptions } from '../../src/cli/sandbox-flags.ts';

describe('--add-host', () => {
  it('reads NAME:IP and NAME=IP, IPv6 bracketed or not', () => {
    expect(parseAddHost('db:10.0.0.5')).toEqual({ host: 'db', ip: '10.0.0.5' });
    expect(parseAddHost('db=10.0.0.5')).toEqual({ host: 'db', ip: '10.0.0.5' });
    expect(parseAddHost('v6:[::1]')).toEqual({ host: 'v6', ip: '::1' });
    expect(parseAddHost('v6:fe80::1')).toEqual({ host: 'v6', ip: 'fe80::1' });
  });

  it('refuses what is not a name and an address, and host-gateway with the reason', () => {
    for (const bad of ['db', 'db:', ':1.2.3.4', 'db:not-an-ip', 'a b:1.2.3.4']) expect(() => parseAddHost(bad), bad).toThrow(/invalid --add-host/);
    expect(() => parseAddHost('h:host-gateway')).toThrow(/no gateway to the host/);
  });
});

describe('--ulimit', () => {
  it('reads soft[:hard] with unlimited as -1', () => {
    expect(parseUlimit('nofile=1024:2048')).toEqual({ name: 'nofile', soft: 1024, hard: 2048 });
    expect(parseUlimit('nproc=512')).toEqual({ name: 'nproc', soft: 512, hard: 512 });
    expect(parseUlimit('core=-1')).toEqual({ name: 'core', soft: -1, hard: -1 });
    expect(parseUlimit('memlock=unlimited:unlimited')).toEqual({ name: 'memlock', soft: -1, hard: -1 });
  });

  it('refuses unknown names, bad numbers and a soft limit above the hard one', () => {
    for (const bad of ['files=1', 'nofile', 'nofile=x', 'nofile=3:2', 'nofile=1:2:3', 'nofile=-1:5']) expect(() => parseUlimit(bad), bad).toThrow(/invalid --ulimit/);
  });
});

describe('the RUN options of a build', () => {
  it('are absent without flags, so cache keys stay as they were', () => {
    expect(runSandboxOptions({ addHost: [], ulimit: [] })).toBeUndefined();
  });

  it('take the last --ulimit of a resource and --shm-size in binary units', () => {
    expect(runSandboxOptions({ addHost: ['a:1.1.1.1'], shmSize: '128m', ulimit: ['nofile=1:2', 'nofile=3:4'] })).toEqual({
      extraHosts: [{ host: 'a', ip: '1.1.1.1' }], shmSize: 128 * 1024 * 1024, ulimits: [{ name: 'nofile', soft: 3, hard: 4 }],
    });
    expect(() => runSandboxOptions({ addHost: [], shmSize: 'big', ulimit: [] })).toThrow(/invalid --shm-size/);
  });
});

describe('the cgroup flags', () => {
  it('are absent without flags, and read sizes, -1 swap and Docker\'s defaults', () => {
    expect(resourceLimits({})).toBeUndefined();
    expect(resourceLimits({ memory: '64m' })).toEqual({ memory: 64 << 20 });
    expect(resourceLimits({ memory: '1g', memorySwap: '-1' })).toEqual({ memory: 1 << 30, memorySwap: -1 });
    expect(resourceLimits({ cpuShares: '0', cpuQuota: '-1', cpuPeriod: '0' })).toBeUndefined();
    expect(resourceLimits({ cpuShares: '100', cpusetCpus: '0,1-1', cgroupParent: 'ci/job' })).toEqual({ cpuShares: 100, cpusetCpus: '0,1-1', cgroupParent: 'ci/job' });
  });

  it('refuse what Docker refuses, naming the flag', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ memory: 'lots' }, /invalid --memory "lots"/],
      [{ memory: '5m' }, /minimum memory limit allowed is 6MB/],
      [{ memorySwap: '1g' }, /--memory-swap needs --memory/],
      [{ memory: '1g', memorySwap: '512m' }, /at least the --memory limit/],
      [{ cpuShares: '-3' }, /--cpu-shares: it cannot be negative/],
      [{ cpuShares: '1.5' }, /invalid --cpu-shares "1.5": not a whole number/],
      [{ cpuPeriod: '2000000' }, /CFS period must be between/],
      [{ cpuQuota: '999' }, /quota cannot be less than 1ms/],
      [{ cpusetMems: '0-' }, /invalid --cpuset-mems "0-"/],
      [{ cgroupParent: '' }, /invalid --cgroup-parent ""/],
    ];
    for (const [flags, message] of cases) expect(() => resourceLimits(flags), JSON.stringify(flags)).toThrow(message);
  });
});
