/**
 * `berth info` reports what a real probe container got: these are the protections every RUN step
 * must have on this host (root, cgroup v1 hybrid with the devices controller, slirp4netns).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BERTH } from '../e2e/harness.ts';
import { defaultCapabilityMask, parseProbeOutput } from '../../src/exec/probe.ts';

const exec = promisify(execFile);

describe('berth info', () => {
  it('shows the protection a RUN container really gets', async () => {
    const { stdout } = await exec(BERTH, ['info']);
    expect(stdout).toMatch(/^no_new_privs:\s+yes$/m);
    expect(stdout).toMatch(/^capabilities:\s+Docker's default set \(00000000a80425fb\)$/m);
    expect(stdout).toMatch(/^network:\s+default: own namespace, outbound through slirp4netns/m);
    expect(stdout).toMatch(/^seccomp:\s+active \(Docker's default profile/m);
    // This host (CI's kind) has cgroup v1's devices controller: the probe is placed in a cgroup of it.
    expect(stdout).toMatch(/^devices:\s+root file system nodev; device cgroup \(v1\) \/berth\//m);
  });

  it('gives the same facts as JSON', async () => {
    const { stdout } = await exec(BERTH, ['info', '--format', 'json']);
    const report = JSON.parse(stdout);
    expect(report.container.noNewPrivs).toBe(true);
    expect(report.container.interfaces).toEqual(expect.arrayContaining(['lo', 'eth0']));
    expect(report.host.slirp4netns.path).toMatch(/slirp4netns$/);
  });
});

describe('probe output', () => {
  it('reads status, mount options of /, interfaces and the devices cgroup', () => {
    const text = [
      'Name:\tcat\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\nCapEff:\t00000000a80425fb\n',
      '---berth-probe---\n',
      '20 1 0:40 / / ro,nosuid,nodev,relatime - overlay overlay rw\n21 20 0:41 / /proc rw - proc proc rw\n',
      '---berth-probe---\n',
      'Inter-|   Receive\n face |bytes\n    lo: 0 0\n  eth0: 1 2\n',
      '---berth-probe---\n',
      '12:devices:/berth/123\n0::/user.slice\n',
    ].join('');
    expect(parseProbeOutput(text)).toEqual({
      seccompMode: 2, seccompFilters: 1, noNewPrivs: true, capEff: '00000000a80425fb',
      rootOptions: ['ro', 'nosuid', 'nodev', 'relatime'], interfaces: ['lo', 'eth0'], deviceCgroup: '12:devices:/berth/123',
    });
    expect(defaultCapabilityMask()).toBe('00000000a80425fb');
  });
});
