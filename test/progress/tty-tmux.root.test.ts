import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BERTH, makeSandbox, type Sandbox } from '../e2e/harness.ts';

/**
 * The live display in a real terminal: berth build in a tmux pane, captured mid-build and after.
 * Its own tmux server (-L), so no one else's sessions are touched.
 */
const SERVER = `berth-progress-${process.pid}`;
const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', SERVER, ...args], { encoding: 'utf8' });
const capture = (colour = false): string => tmux('capture-pane', '-p', ...(colour ? ['-e'] : []), '-t', 'build');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let sb: Sandbox;
beforeAll(async () => { sb = await makeSandbox(); }, 120_000);
afterAll(() => {
  try { tmux('kill-server'); } catch { /* already gone */ }
  sb?.cleanup();
});

async function waitFor(pattern: RegExp, ms = 20_000): Promise<string> {
  const until = Date.now() + ms;
  for (;;) {
    const screen = capture();
    if (pattern.test(screen) || Date.now() > until) return screen;
    await sleep(50);
  }
}

function startBuild(ctx: string, env = ''): void {
  tmux('new-session', '-d', '-s', 'build', '-x', '90', '-y', '24', `env BERTH_ROOT=${sb.root} ${env} ${BERTH} build --no-cache --network none ${ctx}; echo EXIT=$?; sleep 60`);
}

describe('the tty display', () => {
  it('updates in place: timers count, the running step shows its last lines, finished steps collapse; a resize redraws', async () => {
    const ctx = sb.context({
      Dockerfile: 'FROM busybox:local\nRUN for i in $(seq 1 40); do echo line $i; sleep 0.05; done\nFROM busybox:local AS b\nRUN sleep 1.5\nFROM scratch\nCOPY --from=b /bin/true /t\nCOPY --from=0 /bin/true /u\n',
    });
    startBuild(ctx);
    const early = await waitFor(/=> => # line 1\d\b/);
    expect(early).toMatch(/^\[\+\] Building \d+\.\ds \(\d+\/\d+\)/m);
    expect(early).toMatch(/ => \[stage-0 2\/2\] RUN for i in .* {2,}\d+\.\ds$/m);
    // Only the last six lines of the running step.
    expect(early.match(/=> => # line/g)?.length).toBe(6);
    const runTime = (screen: string) => Number(/\[b 2\/2\] RUN sleep 1\.5 +(\d+\.\d)s/.exec(screen)?.[1]);
    const t1 = runTime(early);
    await sleep(400);
    const later = capture();
    expect(runTime(later)).toBeGreaterThan(t1);
    // In place: one header on the screen, not a scroll of frames.
    expect(later.match(/\[\+\] Building/g)).toHaveLength(1);
    tmux('resize-window', '-t', 'build', '-x', '60', '-y', '24');
    const final = await waitFor(/EXIT=\d/);
    expect(final).toContain('EXIT=0');
    expect(final).toMatch(/^\[\+\] Building \d+\.\ds \((\d+)\/\1\) FINISHED/m);
    expect(final.match(/\[\+\] Building/g)).toHaveLength(1);
    // Collapsed: no output lines left, each step one line cut to the narrowed width.
    expect(final).not.toContain('=> => # line');
    for (const line of final.split('\n').filter((l) => l.startsWith(' => '))) expect(line.length).toBeLessThanOrEqual(59);
    expect(final).toMatch(/ => \[stage-2 2\/2\] COPY --from=0 \/bin\/true \/u +\d+\.\ds/);
    expect(capture(true)).toContain('\x1b[34m');
    tmux('kill-session', '-t', 'build');
  }, 60_000);

  it('has no colour with NO_COLOR, and boxes a failed step\'s last lines under the display', async () => {
    const ctx = sb.context({ Dockerfile: 'FROM busybox:local\nRUN for i in $(seq 12); do echo out $i; done; exit 4\n' });
    startBuild(ctx, 'NO_COLOR=1');
    const screen = await waitFor(/EXIT=\d/);
    expect(screen).toContain('EXIT=1');
    expect(screen).toMatch(/ => ERROR \[2\/2\] RUN for i in/);
    expect(screen).toMatch(/------\n > \[2\/2\] RUN for i in \$\(seq 12\); do echo out \$i; done; exit 4:\n\d\.\d{3} out 3\n/);
    expect(capture(true)).not.toMatch(/\x1b\[3\dm/);
    tmux('kill-session', '-t', 'build');
  }, 60_000);
});
