import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox } from '../e2e/harness.ts';

/**
 * berth build's output against BuildKit's: the labels here are what Docker 26's BuildKit printed
 * for the same Dockerfile (`docker build --progress plain`, 2026-12-03), bar the image digest.
 */
let sb: Sandbox;
beforeAll(async () => { sb = await makeSandbox(); }, 120_000);
afterAll(() => sb?.cleanup());

const DOCKERFILE = [
  'FROM busybox:local', 'ARG X=1', 'ENV A=b', 'RUN echo hello; sleep 0.3; echo world >&2', 'LABEL x=y', 'WORKDIR /app', 'COPY a.txt .', '',
  'FROM busybox:local AS build', 'RUN echo built > /out', '',
  'FROM scratch', 'COPY --from=build /out /out', 'COPY --from=0 /app/a.txt /a', 'CMD ["x"]', '',
].join('\n');

const BUILDKIT_LABELS = [
  '[internal] load build definition from Dockerfile',
  '[internal] load metadata for docker.io/library/busybox:local',
  '[internal] load .dockerignore',
  '[internal] load build context',
  '[stage-0 1/4] FROM docker.io/library/busybox:local@sha256:',
  '[stage-0 2/4] RUN echo hello; sleep 0.3; echo world >&2',
  '[build 2/2] RUN echo built > /out',
  '[stage-2 1/2] COPY --from=build /out /out',
  '[stage-0 3/4] WORKDIR /app',
  '[stage-0 4/4] COPY a.txt .',
  '[stage-2 2/2] COPY --from=0 /app/a.txt /a',
  'exporting to image',
];

interface Status {
  vertexes?: Array<{ digest: string; name: string; started?: string; completed?: string; cached?: boolean; error?: string }>;
  logs?: Array<{ vertex: string; stream: number; data: string; timestamp: string }>;
  statuses?: Array<{ id: string; vertex: string }>;
}

describe('berth build --progress', () => {
  it('rawjson: every line of standard error is a SolveStatus object, with BuildKit\'s labels', async () => {
    const ctx = sb.context({ Dockerfile: DOCKERFILE, 'a.txt': 'a\n' });
    const result = await sb.berth(['build', '--progress', 'rawjson', '--network', 'none', '-t', 'pg/raw', ctx]);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stderr.split('\n');
    expect(lines.pop()).toBe('');
    const statuses = lines.map((line) => JSON.parse(line) as Status);
    const names = new Map<string, string>();
    for (const s of statuses) for (const v of s.vertexes ?? []) names.set(v.digest, v.name);
    const labels = [...names.values()];
    expect(labels.map((l) => l.replace(/@sha256:[0-9a-f]{64}$/, '@sha256:')).sort()).toEqual([...BUILDKIT_LABELS].sort());
    // Every vertex ends, none failed; the RUN's output is there, in base64, on its streams.
    const ends = statuses.flatMap((s) => s.vertexes ?? []).filter((v) => v.completed);
    expect(new Set(ends.map((v) => v.digest)).size).toBe(BUILDKIT_LABELS.length);
    const run = [...names].find(([, n]) => n.includes('RUN echo hello'))![0];
    const logs = statuses.flatMap((s) => s.logs ?? []).filter((l) => l.vertex === run);
    // The step's own output, after the line that says why it missed the cache.
    const output = logs.map((l) => [l.stream, Buffer.from(l.data, 'base64').toString()]);
    expect(output[0]).toEqual([2, 'cache miss: no earlier record of this step\n']);
    expect(output.slice(1)).toEqual([[1, 'hello\n'], [2, 'world\n']]);
    expect(statuses.flatMap((s) => s.statuses ?? []).map((s) => s.id)).toContain('naming to docker.io/pg/raw:latest');
    // A rebuild: the FROM and every file system step CACHED.
    const again = await sb.berth(['build', '--progress', 'rawjson', '--network', 'none', '-t', 'pg/raw', ctx]);
    const cached = again.stderr.trimEnd().split('\n').flatMap((l) => (JSON.parse(l) as Status).vertexes ?? []).filter((v) => v.cached).map((v) => v.name);
    expect(cached).toHaveLength(7);
  }, 60_000);

  it('plain: BuildKit\'s blocks, log times from the step start', async () => {
    const ctx = sb.context({ Dockerfile: 'FROM busybox:local\nRUN echo one\n' });
    const result = await sb.berth(['build', '--progress', 'plain', '--no-cache', '--network', 'none', ctx]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^#1 \[internal\] load build definition from Dockerfile\n#1 DONE \d\.\ds\n\n#2 \[internal\] load metadata for docker.io\/library\/busybox:local\n/);
    expect(result.stderr).toMatch(/\n#\d \[1\/2\] FROM docker.io\/library\/busybox:local@sha256:[0-9a-f]{64}\n#\d CACHED\n/);
    // The step's own clock: a line printed at once says 0.0xx, not the time since the build began.
    expect(result.stderr).toMatch(/\n#(\d) \[2\/2\] RUN echo one\n#\1 0\.\d{3} one\n#\1 DONE \d+\.\ds\n/);
    expect(result.stderr).not.toContain('writing image');
  }, 60_000);

  it('quiet: only the image id, but a failing RUN\'s last lines still in a box', async () => {
    const ok = await sb.berth(['build', '-q', '--network', 'none', sb.context({ Dockerfile: 'FROM busybox:local\nRUN echo quiet\n' })]);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const ctx = sb.context({ Dockerfile: 'FROM busybox:local\nRUN for i in $(seq 14); do echo line $i; done; exit 3\n' });
    const failed = await sb.berth(['build', '-q', '--network', 'none', ctx]);
    expect(failed.code).toBe(1);
    const box = /^------\n > \[2\/2\] RUN for i in \$\(seq 14\); do echo line \$i; done; exit 3:\n((?:\d+\.\d{3} line \d+\n){10})------\nerror: /.exec(failed.stderr);
    expect(box, failed.stderr).not.toBeNull();
    expect(box![1]).toMatch(/line 5\n[^]*line 14\n$/);
  }, 60_000);

  it('refuses --progress bogus', async () => {
    const result = await sb.berth(['build', '--progress', 'bogus', sb.context({ Dockerfile: 'FROM busybox:local\n' })]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('invalid progress mode "bogus"');
  });
});
