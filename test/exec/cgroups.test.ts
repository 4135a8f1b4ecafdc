import { describe, expect, it } from 'vitest';
import { cgroupRequests, parseHierarchies, type CgroupHost } from '../../src/exec/cgroups.ts';

const MOUNTINFO = [
  '25 20 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755',
  '26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw',
  '27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd',
  '30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:14 - cgroup cgroup rw,cpu,cpuacct',
  '31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory',
  '32 25 0:29 / /sys/fs/cgroup/cpuset rw,nosuid shared:16 - cgroup cgroup rw,cpuset,clone_children',
  '33 25 0:30 /inner /sys/fs/cgroup/devices rw,nosuid shared:17 - cgroup cgroup rw,devices',
].join('\n');
const SELF = '5:devices:/inner/ci\n4:memory:/ci/job\n3:cpuset:/\n2:cpu,cpuacct:/ci\n1:name=systemd:/ci\n0::/ci\n';
const INIT = '5:devices:/inner\n4:memory:/\n3:cpuset:/\n2:cpu,cpuacct:/\n1:name=systemd:/init.scope\n0::/init.scope\n';

describe('the host cgroups berth reads', () => {
  const host = parseHierarchies(MOUNTINFO, SELF, INIT);

  it('are the v1 hierarchies with berth\'s and pid 1\'s place in each', () => {
    expect(host.v2Only).toBe(false);
    expect(host.hierarchies.map((h) => [h.controllers.join(','), h.mount, h.root, h.own, h.init])).toEqual([
      ['name=systemd', '/sys/fs/cgroup/systemd', '/', '/ci', '/init.scope'],
      ['cpu,cpuacct', '/sys/fs/cgroup/cpu,cpuacct', '/', '/ci', '/'],
      ['memory', '/sys/fs/cgroup/memory', '/', '/ci/job', '/'],
      ['cpuset', '/sys/fs/cgroup/cpuset', '/', '/', '/'],
      ['devices', '/sys/fs/cgroup/devices', '/inner', '/inner/ci', '/inner'],
    ]);
  });

  it('a host with only cgroup v2 is told apart', () => {
    expect(parseHierarchies(MOUNTINFO.split('\n').slice(0, 2).join('\n'), '0::/x\n', '0::/\n').v2Only).toBe(true);
  });
});

describe('the cgroups a container joins', () => {
  const host: CgroupHost = parseHierarchies(MOUNTINFO, SELF, INIT);

  it('for limits: only the hierarchies they need, below berth\'s own, settings in the order the kernel takes', () => {
    const requests = cgroupRequests({ memory: 64 << 20, cpuShares: 512, cpuPeriod: 50_000, cpuQuota: 25_000, cpusetCpus: '0-1' }, host);
    expect(requests).toEqual([
      { parent: '/sys/fs/cgroup/cpu,cpuacct/ci/berth', settings: [['cpu.shares', '512'], ['cpu.cfs_period_us', '50000'], ['cpu.cfs_quota_us', '25000']] },
      // No memsw file under this fake mount: memory alone, as Docker without swap accounting.
      { parent: '/sys/fs/cgroup/memory/ci/job/berth', settings: [['memory.limit_in_bytes', String(64 << 20)]] },
      { parent: '/sys/fs/cgroup/cpuset/berth', settings: [['cpuset.cpus', '0-1']] },
    ]);
  });

  it('with --cgroup-parent: every hierarchy but the skipped ones; relative to pid 1, absolute to the root', () => {
    const relative = cgroupRequests({ cgroupParent: 'builds' }, host, ['devices']);
    expect(relative.map((r) => r.parent)).toEqual([
      '/sys/fs/cgroup/systemd/init.scope/builds', '/sys/fs/cgroup/cpu,cpuacct/builds', '/sys/fs/cgroup/memory/builds', '/sys/fs/cgroup/cpuset/builds',
    ]);
    expect(relative.every((r) => r.settings.length === 0)).toBe(true);
    const absolute = cgroupRequests({ cgroupParent: '/inner/ci/x', memory: 8 << 20 }, host);
    expect(absolute.map((r) => r.parent)).toContain('/sys/fs/cgroup/devices/ci/x');
    expect(absolute.find((r) => r.parent.includes('memory'))!.settings).toEqual([['memory.limit_in_bytes', String(8 << 20)]]);
  });

  it('refuses a parent outside what is mounted, a controller the host lacks, and a v2-only host', () => {
    expect(() => cgroupRequests({ cgroupParent: '/elsewhere' }, host)).toThrow(/outside the devices hierarchy/);
    const noCpuset: CgroupHost = { ...host, hierarchies: host.hierarchies.filter((h) => !h.controllers.includes('cpuset')) };
    expect(() => cgroupRequests({ cpusetCpus: '0' }, noCpuset)).toThrow('this host has no cpuset cgroup controller mounted');
    expect(() => cgroupRequests({ memory: 1 << 30 }, { hierarchies: [], v2Only: true })).toThrow(/only cgroup v2/);
    expect(cgroupRequests({}, host)).toEqual([]);
  });
});
