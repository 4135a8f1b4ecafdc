/**
 * Kernels before 6.8 have no "lowerdir+": there the helper mounts overlays through mount(2) with
 * one page of options (native/src/rootfs.c, make_overlay_legacy). BERTH_OVERLAY_LEGACY=1 makes it
 * take that way on this kernel too, so it is tested here: RUN, read-only and writable mounts of
 * other images, many layers, and `berth run`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, mountsMentioning, type Sandbox } from './harness.ts';

process.env.BERTH_OVERLAY_LEGACY = '1';
let sb: Sandbox;
beforeAll(async () => { sb = await makeSandbox(); }, 120_000);
afterAll(() => {
  delete process.env.BERTH_OVERLAY_LEGACY;
  sb?.cleanup();
});

describe('overlays mounted the pre-6.8 way', () => {
  it('build RUN steps, bind and cache mounts, and run the image', async () => {
    const dockerfile = [
      'FROM busybox:local AS tools',
      'RUN echo tool > /tool',
      'FROM busybox:local',
      'RUN echo one > /one',
      'RUN --mount=type=bind,from=tools,target=/t cat /t/tool > /copied',
      'RUN --mount=type=bind,from=tools,target=/w,rw echo scratch > /w/x && cat /w/tool >> /copied',
      'RUN --mount=type=cache,target=/c echo cached > /c/f && cat /c/f >> /copied',
      '',
    ].join('\n');
    const built = await sb.berth(['build', '--progress', 'plain', '-t', 'legacy/app', sb.context({ Dockerfile: dockerfile })]);
    expect(built.code, built.stderr).toBe(0);
    const ran = await sb.berth(['run', '--rm', 'legacy/app', 'cat', '/one', '/copied']);
    expect(ran.stdout).toBe('one\ntool\ntool\ncached\n');
    expect(mountsMentioning(sb.root)).toEqual([]);
  });

  it('stacks more layers than absolute paths would fit in a page', async () => {
    const steps = Array.from({ length: 50 }, (_, i) => `RUN echo ${i} > /f${i}`);
    const dockerfile = ['FROM busybox:local', ...steps, 'RUN cat /f0 /f49 > /ends', ''].join('\n');
    const built = await sb.berth(['build', '-q', '-t', 'legacy/tall', sb.context({ Dockerfile: dockerfile })]);
    expect(built.code, built.stderr).toBe(0);
    expect((await sb.berth(['run', '--rm', 'legacy/tall', 'cat', '/ends'])).stdout).toBe('0\n49\n');
  }, 120_000);
});
