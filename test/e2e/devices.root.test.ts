/**
 * Device nodes shipped in a build's input or an image cannot be opened by what runs from it:
 * a block device (the host's first loop device, 7:0) added by `ADD` of a tar, and the same image
 * saved and loaded into another store and run with `berth run`. Against berth before issue 11's
 * fix both opens succeeded (the test failed: `dd` read a byte of the host's loop device).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox } from './harness.ts';

let box: Sandbox;
let other: Sandbox;
let ctx: string;

beforeAll(async () => {
  box = await makeSandbox();
  other = await makeSandbox();
  const nodes = path.join(box.dir, 'nodes');
  mkdirSync(nodes);
  execFileSync('mknod', [path.join(nodes, 'loopdev'), 'b', '7', '0']);
  execFileSync('mknod', [path.join(nodes, 'memdev'), 'c', '1', '1']);
  ctx = box.context({
    Dockerfile: 'FROM busybox:local\nADD dev.tar /\n',
  });
  execFileSync('tar', ['--numeric-owner', '-C', nodes, '-cf', path.join(ctx, 'dev.tar'), 'loopdev', 'memdev']);
}, 120_000);

afterAll(() => {
  box?.cleanup();
  other?.cleanup();
});

const OPEN = 'for d in /loopdev /memdev; do dd if=$d of=/dev/null bs=1 count=1 2>&1 && echo "$d OPENED"; ls -l $d; done';

describe('device nodes from ADD and from a loaded image', () => {
  it('ADDs them as they are, but a RUN cannot open them', async () => {
    const built = await box.berth(['build', '-t', 'dev/nodes', ctx]);
    expect(built.code, built.stderr).toBe(0);
    const run = box.context({ Dockerfile: `FROM dev/nodes\nRUN ${OPEN}\n` });
    const result = await box.berth(['build', '--progress', 'plain', '--no-cache', run]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/brw.* 7,\s+0 .*\/loopdev/);
    // (The step's header shows the command, OPENED included: only output lines count.)
    expect(result.stderr).not.toMatch(/^#\d+ [\d.]+ \/(loopdev|memdev) OPENED/m);
    expect(result.stderr).toMatch(/can't open '\/loopdev': Permission denied/);
    expect(result.stderr).toMatch(/can't open '\/memdev': Permission denied/);
  });

  it('loads them in another store, and berth run cannot open them either', async () => {
    const archive = path.join(box.dir, 'nodes.tar');
    expect((await box.berth(['save', '-o', archive, 'dev/nodes'])).code).toBe(0);
    expect((await other.berth(['load', '-i', archive])).code).toBe(0);
    const result = await other.berth(['run', 'dev/nodes', 'sh', '-c', OPEN]);
    expect(result.stdout).toMatch(/crw.* 1,\s+1 .*\/memdev/);
    expect(result.stdout).not.toContain('OPENED');
    expect(result.stdout).toMatch(/can't open '\/loopdev': Permission denied/);
    expect(result.stdout).toMatch(/can't open '\/memdev': Permission denied/);
  });
});
