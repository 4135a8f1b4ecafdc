/** Docker's default seccomp profile decided for a container, and its wire format (no root needed). */
import { describe, expect, it } from 'vitest';
import { encodeSpec, type ContainerSpec } from '../../src/exec/index.ts';
import { DEFAULT_CAPABILITIES, decodePairs } from '../../src/exec/spec.ts';
import { encodeSeccomp, seccompFilter, type SeccompFilter } from '../../src/exec/seccomp.ts';

const defaults = Object.keys(DEFAULT_CAPABILITIES);

function rulesFor(filter: SeccompFilter, name: string) {
  return filter.rules.filter((rule) => rule.names.includes(name));
}

describe('seccompFilter', () => {
  const filter = seccompFilter(defaults, '6.1.0-amd64');

  it('denies with EPERM by default, ENOSYS above the profile, for x86_64 with x86 and x32', () => {
    expect(filter).toMatchObject({ defaultErrno: 1, newerErrno: 38, extraArches: ['x86', 'x32'] });
  });

  it("leaves out the groups of capabilities docker's defaults lack", () => {
    for (const name of ['mount', 'umount2', 'unshare', 'setns', 'bpf', 'perf_event_open', 'keyctl', 'add_key', 'reboot', 'init_module', 'iopl', 'open_by_handle_at']) {
      expect(rulesFor(filter, name)).toEqual([]);
    }
    expect(rulesFor(filter, 'chroot')).toEqual([{ names: ['chroot'], errno: undefined, args: [] }]);
  });

  it('allows clone without namespace flags, clone3 as ENOSYS, five personalities, socket but AF_VSOCK', () => {
    expect(rulesFor(filter, 'clone')).toEqual([{ names: ['clone'], errno: undefined, args: [{ index: 0, op: 'masked_eq', value: 0x7e020000n, valueTwo: 0n }] }]);
    expect(rulesFor(filter, 'clone3')).toEqual([{ names: ['clone3'], errno: 38, args: [] }]);
    expect(rulesFor(filter, 'personality').map((rule) => rule.args[0].value)).toEqual([0n, 8n, 0x20000n, 0x20008n, 0xffffffffn]);
    expect(rulesFor(filter, 'socket')).toEqual([{ names: ['socket'], errno: undefined, args: [{ index: 0, op: 'ne', value: 40n }] }]);
    expect(rulesFor(filter, 'arch_prctl')).toHaveLength(1);
    expect(rulesFor(filter, 'breakpoint')).toEqual([]);
  });

  it('follows the kept capabilities and the kernel version', () => {
    const admin = seccompFilter([...defaults, 'CAP_SYS_ADMIN'], '6.1.0');
    expect(rulesFor(admin, 'mount')).toHaveLength(1);
    expect(rulesFor(admin, 'clone')).toEqual([expect.objectContaining({ args: [] })]);
    expect(rulesFor(admin, 'clone3')).toEqual([expect.objectContaining({ errno: undefined })]);
    expect(rulesFor(seccompFilter(defaults, '4.4.0'), 'ptrace')).toEqual([]);
    expect(rulesFor(filter, 'ptrace')).toHaveLength(1);
  });

  it('encodes one scrule per rule with its names and args', () => {
    const pairs: Array<[string, string]> = [];
    encodeSeccomp({ defaultErrno: 1, newerErrno: 38, extraArches: ['x86'], rules: [
      { names: ['a', 'b'], args: [] },
      { names: ['c'], errno: 38, args: [{ index: 1, op: 'masked_eq', value: 5n, valueTwo: 1n }] },
    ] }, (key, value) => pairs.push([key, String(value)]));
    expect(pairs).toEqual([
      ['seccomp', '1'], ['scnewer', '38'], ['scarch', 'x86'],
      ['scrule', 'allow'], ['scname', 'a'], ['scname', 'b'],
      ['scrule', 'errno 38'], ['scname', 'c'], ['scarg', '1 masked_eq 5 1'],
    ]);
  });
});

describe('encodeSpec and confinement', () => {
  const spec: ContainerSpec = {
    rootfs: { kind: 'dir', path: '/r' }, args: ['true'], env: [], cwd: '/', uid: 0, gid: 0, groups: [], hostname: '', network: 'none',
  };
  const keys = (s: ContainerSpec) => new Set(decodePairs(encodeSpec(s, 1)).map(([key]) => key));

  it('sends a compiled program instead of the rules when it has one', () => {
    const pairs = decodePairs(encodeSpec(spec, 1, Buffer.from([1, 2, 3, 4, 5, 6, 7, 8])));
    expect(pairs.filter(([key]) => key.startsWith('sc') || key === 'seccomp')).toEqual([['seccomp', '1'], ['scprog', '0102030405060708']]);
  });

  it('sends nodev, the device cgroup and the filter, none of them when privileged', () => {
    for (const key of ['nodev', 'devcgroup', 'devallow', 'seccomp', 'scrule', 'scname']) {
      expect(keys(spec).has(key)).toBe(true);
      expect(keys({ ...spec, privileged: true }).has(key)).toBe(false);
    }
  });
});
