/**
 * `--add-host`, `--shm-size` and `--ulimit` as buildx and docker run honour them, shown from inside
 * the container: /etc/hosts, /dev/shm's size and the process's limits. They are part of a RUN's
 * cache key (BuildKit's ExecOp carries them): the same RUN without them is built again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox } from './harness.ts';

let sb: Sandbox;
beforeAll(async () => { sb = await makeSandbox(); }, 120_000);
afterAll(() => sb?.cleanup());

const PROBE = 'FROM busybox:local\nRUN tail -1 /etc/hosts > /hosts; df -k /dev/shm | tail -1 | awk \'{print $2}\' > /shm; ulimit -n > /nofile; ulimit -Hn >> /nofile\n';

describe('RUN options of a build', () => {
  it('reach every RUN: /etc/hosts entries, /dev/shm size, resource limits', async () => {
    const ctx = sb.context({ Dockerfile: PROBE });
    const built = await sb.berth(['build', '-q', '-t', 'opts/on', '--add-host', 'db:10.1.2.3', '--shm-size', '128m', '--ulimit', 'nofile=1234:2345', ctx]);
    expect(built.code, built.stderr).toBe(0);
    const read = async (file: string) => (await sb.berth(['run', '--rm', 'opts/on', 'cat', file])).stdout;
    expect(await read('/hosts')).toBe('10.1.2.3\tdb\n');
    expect(await read('/shm')).toBe(`${128 * 1024}\n`);
    expect(await read('/nofile')).toBe('1234\n2345\n');
    // Without the options the same RUN is another step: built again, with Docker's defaults.
    const plain = await sb.berth(['build', '--progress', 'plain', '-t', 'opts/off', ctx]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(/#(\d+) \[2\/2\] RUN [\s\S]*?#\1 (CACHED|DONE)/.exec(plain.stderr)?.[2]).toBe('DONE');
    expect((await sb.berth(['run', '--rm', 'opts/off', 'cat', '/shm'])).stdout).toBe(`${64 * 1024}\n`);
  });

  it('reach berth run too', async () => {
    const ran = await sb.berth(['run', '--rm', '--add-host', 'v6:[::1]', '--shm-size', '32m', '--ulimit', 'nproc=77', 'busybox:local',
      'sh', '-c', 'tail -1 /etc/hosts; df -k /dev/shm | tail -1 | awk \'{print $2}\'; ulimit -u']);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toBe('::1\tv6\n32768\n77\n');
  });

  it('takes --platform linux/amd64 (the one berth builds) and names any other', async () => {
    const ctx = sb.context({ Dockerfile: 'FROM --platform=$BUILDPLATFORM busybox:local\nRUN true\n' });
    const built = await sb.berth(['build', '-q', '--platform', 'linux/amd64', ctx]);
    expect(built.code, built.stderr).toBe(0);
    const other = await sb.berth(['build', '-q', '--platform', 'linux/amd64,linux/arm64', ctx]);
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain('berth builds linux/amd64 images only; --platform linux/arm64 is not supported');
  });

  it('refuses a bad flag before building', async () => {
    const bad = await sb.berth(['build', '--ulimit', 'nofile=9:1', sb.context({ Dockerfile: PROBE })]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('invalid --ulimit "nofile=9:1"');
  });
});
