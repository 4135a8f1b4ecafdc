/**
 * What the sandbox costs, berth against berth (no Docker counterpart for these):
 * - a RUN with the default network (slirp4netns started per step) against `--network none`;
 * - rootless against root: the small project's cold and no-op builds, as a user made for the
 *   bench (with a subordinate range), each in its own store, taking turns.
 * Medians in seconds; the ratios are what issue 11 (sandbox start-up) and issue 12 (rootless
 * within 1.2x of root) ask about.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BERTH } from '../test/e2e/harness.ts';
import { makeUser, removeUser, type TestUser } from '../test/e2e/rootless-harness.ts';

const USER = 'berth-bench';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function timed(command: string, args: string[], env: NodeJS.ProcessEnv): number {
  const start = process.hrtime.bigint();
  const result = spawnSync(command, args, { env, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${args.join(' ')} failed: ${result.stderr}`);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** A fresh bench user with a subordinate range (the rootless tests' helper); how to run berth as it. */
function benchUser(dir: string): { user: TestUser; run: string[] } {
  chmodSync(dir, 0o755);
  const user = makeUser(USER, 400000, dir);
  return { user, run: ['-u', USER, '--', 'env', '-i', `HOME=${user.home}`, `USER=${USER}`, 'PATH=/usr/bin:/bin:/usr/sbin:/sbin', BERTH] };
}

/** `base` is the name the small project's Dockerfile builds FROM. */
export async function benchSandbox(dir: string, rootfs: string, small: string, rootEnv: NodeJS.ProcessEnv, base: string): Promise<void> {
  const BASE = base;
  // The network: one RUN step, built anew each time, with and without the user-mode network.
  const netCtx = path.join(dir, 'net');
  mkdirSync(netCtx, { recursive: true });
  writeFileSync(path.join(netCtx, 'Dockerfile'), `FROM ${BASE}\nRUN true\n`);
  
  const none: number[] = [];
  const sandbox: number[] = [];
  for (let i = 0; i < 9; i++) {
    none.push(timed(BERTH, ['build', '-q', '--no-cache', '--network', 'none', netCtx], rootEnv));
    sandbox.push(timed(BERTH, ['build', '-q', '--no-cache', netCtx], rootEnv));
  }
  console.log('sandbox (berth only; median seconds)');
  console.log(`  RUN true, --network none   ${median(none).toFixed(3)}s`);
  console.log(`  RUN true, default network  ${median(sandbox).toFixed(3)}s (+${((median(sandbox) - median(none)) * 1000).toFixed(0)} ms for slirp4netns)`);

  // Rootless against root, the small project, each in its own store.
  const { user: created, run } = benchUser(dir);
  const user = { home: created.home, run };
  try {
    const userCtx = path.join(user.home, 'small');
    execFileSync('cp', ['-a', small, userCtx]);
    execFileSync('chown', ['-R', `${USER}:`, userCtx]);
    const tarball = path.join(user.home, 'busybox.tar');
    copyFileSync(rootfs, tarball);
    chmodSync(tarball, 0o644);
    must(spawnSync('runuser', [...user.run, 'import', '-c', 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin', tarball, BASE]));
    const rootStore = { ...rootEnv, BERTH_ROOT: path.join(dir, 'root-vs-rootless') };
    must(spawnSync(BERTH, ['import', '-c', 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin', rootfs, BASE], { env: rootStore }));
    spawnSync('sync');
    const rootCold = timed(BERTH, ['build', '-q', '--network', 'none', '-t', 'bench/rl', small], rootStore);
    spawnSync('sync');
    const rootlessCold = timed('runuser', [...user.run, 'build', '-q', '--network', 'none', '-t', 'bench/rl', userCtx], process.env);
    const rootNoop: number[] = [];
    const rootlessNoop: number[] = [];
    for (let i = 0; i < 15; i++) {
      rootNoop.push(timed(BERTH, ['build', '-q', '--network', 'none', '-t', 'bench/rl', small], rootStore));
      rootlessNoop.push(timed('runuser', [...user.run, 'build', '-q', '--network', 'none', '-t', 'bench/rl', userCtx], process.env));
    }
    // runuser itself costs a few milliseconds: measured so the ratio is berth's alone.
    const runuser = median(Array.from({ length: 15 }, () => timed('runuser', ['-u', USER, '--', 'true'], process.env)));
    const noopRatio = (median(rootlessNoop) - runuser) / median(rootNoop);
    console.log(`  cold small, root ${rootCold.toFixed(3)}s, rootless ${rootlessCold.toFixed(3)}s (${(rootlessCold / rootCold).toFixed(2)}x; target <= 1.2x)`);
    console.log(`  no-op small, root ${median(rootNoop).toFixed(3)}s, rootless ${median(rootlessNoop).toFixed(3)}s incl. ${(runuser * 1000).toFixed(0)} ms of runuser (${noopRatio.toFixed(2)}x without it; target <= 1.2x)`);
  } finally {
    removeUser(created);
  }
}

function must(result: ReturnType<typeof spawnSync>): void {
  if (result.status !== 0) throw new Error(String(result.stderr));
}
