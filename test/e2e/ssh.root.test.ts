/**
 * `--ssh` and `RUN --mount=type=ssh`: the step reaches the agent through a socket of its own
 * (root's or the mount's uid, mode 0600), SSH_AUTH_SOCK points at it, and nothing of it stays in
 * the image. Keys given as files get an agent berth starts; a socket is forwarded as it is.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, mountsMentioning, type Sandbox } from './harness.ts';

let sb: Sandbox;
let probe: string;
let key: string;
let agent: ChildProcess;
let agentSocket: string;

beforeAll(async () => {
  sb = await makeSandbox();
  probe = path.join(sb.dir, 'agentprobe');
  execFileSync('gcc', ['-static', '-O2', '-o', probe, path.join(import.meta.dirname, 'probes/agentprobe.c')]);
  key = path.join(sb.dir, 'id_test');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'berth-test-key', '-f', key]);
  agentSocket = path.join(sb.dir, 'agent.sock');
  agent = spawn('ssh-agent', ['-D', '-a', agentSocket], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !existsSync(agentSocket); i++) await new Promise((r) => setTimeout(r, 20));
  execFileSync('ssh-add', ['-q', key], { env: { ...process.env, SSH_AUTH_SOCK: agentSocket } });
}, 120_000);
afterAll(() => {
  agent?.kill();
  sb?.cleanup();
});

function context(dockerfile: string): string {
  const ctx = sb.context({ Dockerfile: dockerfile });
  copyFileSync(probe, path.join(ctx, 'agentprobe'));
  return ctx;
}

describe('RUN --mount=type=ssh', () => {
  it('reaches an agent berth starts for a key file, and one given by its socket', async () => {
    const ctx = context('FROM busybox:local\nCOPY agentprobe /p\nRUN --mount=type=ssh /p > /out; echo $SSH_AUTH_SOCK >> /out\n');
    for (const [tag, flag] of [['ssh/key', `default=${key}`], ['ssh/sock', `default=${agentSocket}`]]) {
      const built = await sb.berth(['build', '-q', '--no-cache', '-t', tag, '--ssh', flag, ctx]);
      expect(built.code, built.stderr).toBe(0);
      expect((await sb.berth(['run', '--rm', tag, 'cat', '/out'])).stdout).toBe('1 berth-test-key\n/run/buildkit/ssh_agent.0\n');
    }
    // Nothing of the agent is in the image: not the socket, not its mount point.
    expect((await sb.berth(['run', '--rm', 'ssh/key', 'find', '/run', '-name', 'ssh_agent*'])).stdout).toBe('');
    expect(mountsMentioning(sb.root)).toEqual([]);
  });

  it('serves another user with uid= and names its own id and target', async () => {
    const ctx = context('FROM busybox:local\nCOPY agentprobe /p\nUSER 1000\nRUN --mount=type=ssh,id=deploy,target=/tmp/agent,uid=1000 /p > /tmp/out && cat /tmp/out\n');
    const built = await sb.berth(['build', '--progress', 'plain', '--ssh', `deploy=${key}`, ctx]);
    expect(built.code, built.stderr).toBe(0);
    expect(built.stderr).toContain('1 berth-test-key');
    // As root's (the default), the same socket refuses uid 1000.
    const denied = await sb.berth(['build', '--progress', 'plain', '--ssh', `deploy=${key}`,
      context('FROM busybox:local\nCOPY agentprobe /p\nUSER 1000\nRUN --mount=type=ssh,id=deploy /p\n')]);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('connect: Permission denied');
  });

  it('fails clearly when a required agent is missing, and runs without a mount that is not', async () => {
    const required = await sb.berth(['build', '-q', context('FROM busybox:local\nRUN --mount=type=ssh,required=true true\n')]);
    expect(required.code).not.toBe(0);
    expect(required.stderr).toContain('no SSH agent for id default: give it with berth build --ssh default');
    const optional = await sb.berth(['build', '-q', context('FROM busybox:local\nRUN --mount=type=ssh test -z "$SSH_AUTH_SOCK"\n')]);
    expect(optional.code, optional.stderr).toBe(0);
  });

  it('keys the step by the mount alone: another agent does not miss the cache', async () => {
    const ctx = context('FROM busybox:local\nRUN --mount=type=ssh echo keyed > /k\n');
    expect((await sb.berth(['build', '-q', '--ssh', `default=${key}`, ctx])).code).toBe(0);
    const again = await sb.berth(['build', '--progress', 'plain', '--ssh', `default=${agentSocket}`, ctx]);
    expect(again.stderr).toMatch(/RUN --mount=type=ssh echo keyed > \/k\n#\d+ CACHED/);
  });
});
