/**
 * `--cgroup-parent`, `-m/--memory`, `--memory-swap`, `--cpu-shares`, `--cpu-period`,
 * `--cpu-quota`, `--cpuset-cpus` and `--cpuset-mems` as `docker build` honours them: the RUN
 * names its own cgroups (/proc/self/cgroup: no cgroup namespace on v1, as Docker's there), the
 * test reads the limits the kernel holds for them while it sleeps, a RUN over its memory limit is
 * killed, and every cgroup the build made is gone when it ends. CI's host is cgroup v1 (hybrid).
 */
import { existsSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox } from './harness.ts';

let sb: Sandbox;
beforeAll(async () => { sb = await makeSandbox(); }, 120_000);
afterAll(() => sb?.cleanup());

const CGROUPS = '/sys/fs/cgroup';
/** Prints its cgroups, then waits for the test to read them (or a minute). */
const PROBE = 'FROM busybox:local\nRUN cat /proc/self/cgroup; grep Cpus_allowed_list /proc/self/status; echo READY; for i in $(seq 600); do [ -e /tmp/go ] && break; sleep 0.1; done\n';

/** `controllers -> path` from a RUN's printed /proc/self/cgroup. */
function cgroupsOf(output: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of output.matchAll(/^#\d+ [\d.]+ \d+:([^:\n]+):(\S*)$/gm)) out.set(m[1], m[2]);
  return out;
}

/** Runs a build with PROBE, hands the RUN's cgroups to `look` while it waits, then lets it finish. */
async function whileRunning(flags: string[], look: (cgroups: Map<string, string>, output: string) => void): Promise<{ code: number | null; output: string }> {
  const ctx = sb.context({ Dockerfile: PROBE });
  const child = sb.spawnBerth(['build', '--progress', 'plain', '--no-cache', ...flags, ctx]);
  let output = '';
  let looked: Error | undefined;
  let done = false;
  const onData = (chunk: Buffer): void => {
    output += chunk.toString();
    if (done || !output.includes(' READY\n')) return;
    done = true;
    try {
      look(cgroupsOf(output), output);
    } catch (error) {
      looked = error as Error;
    }
    // The RUN's /tmp is its overlay's: reached through the root of a process of its device cgroup.
    const devices = /^#\d+ [\d.]+ \d+:devices:(\S+)$/m.exec(output)?.[1];
    const task = devices && readFileSync(path.join(CGROUPS, 'devices', devices, 'tasks'), 'utf8').split('\n')[0];
    if (task) writeFileSync(`/proc/${task}/root/tmp/go`, '');
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (looked) throw looked;
  return { code, output };
}

const read = (controller: string, dir: string, file: string): string => readFileSync(path.join(CGROUPS, controller, dir, file), 'utf8').trim();

describe('cgroup limits of a build', () => {
  it('puts every RUN in cgroups with the memory, swap, cpu and cpuset limits asked for', async () => {
    let seen = new Map<string, string>();
    const result = await whileRunning(
      ['-m', '64m', '--memory-swap', '96m', '--cpu-shares', '512', '--cpu-period', '50000', '--cpu-quota', '25000', '--cpuset-cpus', '0', '--cpuset-mems', '0'],
      (cgroups) => {
        seen = cgroups;
        const memory = cgroups.get('memory')!;
        expect(memory).toMatch(/\/berth\/\d+-\d+$/);
        expect(read('memory', memory, 'memory.limit_in_bytes')).toBe(String(64 * 1024 * 1024));
        expect(read('memory', memory, 'memory.memsw.limit_in_bytes')).toBe(String(96 * 1024 * 1024));
        const cpu = cgroups.get('cpu')!;
        expect(read('cpu', cpu, 'cpu.shares')).toBe('512');
        expect(read('cpu', cpu, 'cpu.cfs_period_us')).toBe('50000');
        expect(read('cpu', cpu, 'cpu.cfs_quota_us')).toBe('25000');
        expect(read('cpuset', cgroups.get('cpuset')!, 'cpuset.cpus')).toBe('0');
      },
    );
    expect(result.code, result.output).toBe(0);
    expect(result.output).toMatch(/Cpus_allowed_list:\s+0$/m);
    // Only the hierarchies a limit needs (and the device cgroup), none left behind.
    expect(seen.get('pids')).toBe(readFileSync('/proc/self/cgroup', 'utf8').match(/^\d+:pids:(\S*)$/m)![1]);
    for (const [controller, dir] of seen) {
      if (['memory', 'cpu', 'cpuset', 'devices'].includes(controller)) expect(existsSync(path.join(CGROUPS, controller, dir)), controller).toBe(false);
    }
  }, 120_000);

  it('kills a RUN that goes over --memory, and leaves the one without a limit alone', async () => {
    const ctx = sb.context({ Dockerfile: 'FROM busybox:local\nRUN dd if=/dev/zero of=/dev/null bs=48M count=1\n' });
    const limited = await sb.berth(['build', '--no-cache', '-m', '16m', '--memory-swap', '16m', ctx]);
    expect(limited.code).not.toBe(0);
    expect(limited.stderr).toContain('exit code: 137');
    const free = await sb.berth(['build', '--no-cache', ctx]);
    expect(free.code, free.stderr).toBe(0);
  }, 120_000);

  it('--cgroup-parent places the RUN in every hierarchy below it (absolute and relative to pid 1)', async () => {
    for (const parent of ['/berth-e2e-parent/abs', 'berth-e2e-parent/rel']) {
      const result = await whileRunning(['--cgroup-parent', parent], (cgroups) => {
        for (const controller of ['memory', 'cpu', 'pids', 'devices', 'freezer']) {
          expect(cgroups.get(controller), controller).toMatch(new RegExp(`^/berth-e2e-parent/${parent.split('/').at(-1)}/\\d+-\\d+$`));
        }
      });
      expect(result.code, result.output).toBe(0);
    }
    for (const controller of readdirSync(CGROUPS)) {
      const dir = path.join(CGROUPS, controller, 'berth-e2e-parent');
      if (!existsSync(dir)) continue;
      for (const kind of ['abs', 'rel']) {
        // The parent stays, as Docker leaves it; the RUN's own cgroup is gone.
        expect(readdirSync(path.join(dir, kind)).filter((n) => /^\d+-\d+$/.test(n)), `${controller}/${kind}`).toEqual([]);
        rmdirSync(path.join(dir, kind));
      }
      rmdirSync(dir);
    }
  }, 120_000);

  it('leaves the cache key alone: the same RUN under other limits is a hit', async () => {
    const ctx = sb.context({ Dockerfile: 'FROM busybox:local\nRUN echo limited > /f\n' });
    expect((await sb.berth(['build', '-m', '64m', ctx])).code).toBe(0);
    const again = await sb.berth(['build', '--progress', 'plain', '-m', '128m', '--cpu-shares', '100', ctx]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/#\d+ \[2\/2\] RUN echo limited > \/f\n#\d+ CACHED/);
  }, 120_000);

  it('refuses what the kernel or Docker would, before or as the RUN starts', async () => {
    const ctx = sb.context({ Dockerfile: 'FROM busybox:local\nRUN true\n' });
    const cases: Array<[string[], string]> = [
      [['-m', '1m'], 'the minimum memory limit allowed is 6MB'],
      [['--memory-swap', '1g'], '--memory-swap needs --memory'],
      [['-m', '64m', '--memory-swap', '32m'], 'must be at least the --memory limit'],
      [['--cpu-period', '10'], 'CPU CFS period must be between'],
      [['--cpu-quota', '10'], 'cannot be less than 1ms'],
      [['--cpuset-cpus', 'x'], 'invalid --cpuset-cpus "x"'],
      [['--cgroup-parent', '../up'], 'invalid --cgroup-parent'],
    ];
    for (const [flags, message] of cases) {
      const bad = await sb.berth(['build', ...flags, ctx]);
      expect(bad.code, flags.join(' ')).not.toBe(0);
      expect(bad.stderr, flags.join(' ')).toContain(message);
    }
    const cpus = readFileSync(path.join(CGROUPS, 'cpuset/cpuset.cpus'), 'utf8').trim();
    const beyond = await sb.berth(['build', '--no-cache', '--cpuset-cpus', '63', ctx]);
    expect(beyond.code, `host cpus ${cpus}`).not.toBe(0);
    expect(beyond.stderr).toMatch(/cgroup: writing "63" to \S+cpuset\.cpus/);
  }, 120_000);

  it('reach berth run too', async () => {
    const ran = await sb.berth(['run', '--rm', '-m', '48m', '--cpuset-cpus', '0', 'busybox:local', 'sh', '-c', 'grep -E "memory|cpuset" /proc/self/cgroup; grep Cpus_allowed_list /proc/self/status']);
    expect(ran.code, ran.stderr).toBe(0);
    const memory = /:memory:(\S+)/.exec(ran.stdout)![1];
    expect(memory).toMatch(/\/berth\/\d+-\d+$/);
    expect(ran.stdout).toMatch(/Cpus_allowed_list:\s+0$/m);
  });
});
