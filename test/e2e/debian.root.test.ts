/**
 * A real distribution build with RUN's default network and the default sandbox (seccomp, device
 * rules, Docker's capabilities): apt-get fetches from Debian's mirror, installs a compiler, and
 * the compiler builds and runs a program. The base is made by debootstrap (scripts/debian-rootfs.sh).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, REPO, type Sandbox } from './harness.ts';

const exec = promisify(execFile);
let box: Sandbox;

beforeAll(async () => {
  box = await makeSandbox();
  const tarball = path.join(box.dir, 'debian.tar');
  await exec(path.join(REPO, 'scripts/debian-rootfs.sh'), [tarball], { maxBuffer: 64 * 1024 * 1024 });
  const imported = await box.berth(['import', '-c', 'CMD ["bash"]', tarball, 'debian:bookworm']);
  if (imported.code !== 0) throw new Error(imported.stderr);
}, 600_000);

afterAll(() => box?.cleanup());

describe('a Debian build with the default network', () => {
  it('runs apt-get update and install, and the installed compiler works', async () => {
    const ctx = box.context({
      Dockerfile: [
        'FROM debian:bookworm',
        'RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev hello',
        `RUN printf '#include <stdio.h>\\nint main(void) { puts("compiled and ran"); return 0; }\\n' > /t.c && gcc -O2 -o /usr/local/bin/t /t.c`,
        'RUN t && hello',
        '',
      ].join('\n'),
    });
    const result = await box.berth(['build', '--progress', 'plain', '-t', 'debian:built', ctx]);
    expect(result.code, result.stderr.slice(-4000)).toBe(0);
    expect(result.stderr).toContain('compiled and ran');
    expect(result.stderr).toContain('Hello, world!');
    const ran = await box.berth(['run', 'debian:built', 't']);
    expect(ran.stdout).toBe('compiled and ran\n');
  }, 600_000);
});
