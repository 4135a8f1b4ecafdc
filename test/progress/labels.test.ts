import { describe, expect, it } from 'vitest';
import { parseDockerfile } from '../../src/syntax/index.ts';
import { planBuild, type BuildPlan } from '../../src/plan/index.ts';
import { imageLabel, metadataLabel, pinnedName, planLabels, plannedStepCount, stepLabel } from '../../src/progress/labels.ts';

const DIGEST = 'sha256:90dc93303b941eae2c6befb5c4dd04965cbeaf70b72d351dd7f1747d0c963b64';

async function plan(text: string, target?: string, onbuild?: string[]): Promise<BuildPlan> {
  return planBuild(parseDockerfile(text, 'Dockerfile'), {
    target, resolveImage: async () => ({ config: onbuild ? { OnBuild: onbuild } : {} }),
  });
}

/** Every step's label in plan order, FROM steps where their stage starts. */
function labels(p: BuildPlan): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const stage of p.stages) {
    if (stage.base.kind === 'image' && !seen.has(stage.base.ref)) {
      seen.add(stage.base.ref);
      out.push(imageLabel(p, stage.base.ref, DIGEST));
    }
    for (const id of stage.vertices) {
      const v = p.vertices.find((x) => x.id === id)!;
      if (['run', 'copy', 'workdir'].includes(v.op.kind)) out.push(stepLabel(p, v));
    }
  }
  return out;
}

describe('step labels as BuildKit (Docker 26) prints them', () => {
  // Expected labels copied from `docker build --progress plain` of the same files (BuildKit 0.13).
  it('names unnamed stages stage-N, counts FROM and file system steps only, merges a shared base', async () => {
    const p = await plan([
      'FROM busybox:local', 'ARG X=1', 'ENV A=b', 'RUN echo hello; sleep 0.3; echo world >&2', 'LABEL x=y', 'WORKDIR /app', 'COPY a.txt .', '',
      'FROM busybox:local AS build', 'RUN echo built > /out', '',
      'FROM scratch', 'COPY --from=build /out /out', 'COPY --from=0 /app/a.txt /a', 'CMD ["x"]', '',
    ].join('\n'));
    expect(labels(p)).toEqual([
      `[stage-0 1/4] FROM docker.io/library/busybox:local@${DIGEST}`,
      '[stage-0 2/4] RUN echo hello; sleep 0.3; echo world >&2',
      '[stage-0 3/4] WORKDIR /app',
      '[stage-0 4/4] COPY a.txt .',
      '[build 2/2] RUN echo built > /out',
      '[stage-2 1/2] COPY --from=build /out /out',
      '[stage-2 2/2] COPY --from=0 /app/a.txt /a',
    ]);
    // One FROM for the shared image, six file system steps.
    expect(plannedStepCount(p)).toBe(7);
  });

  it('leaves a single stage unnamed, even with AS, and keeps the line as written', async () => {
    const p = await plan('FROM busybox:local AS Build\nRUN echo a && \\\n    echo   b\nRUN <<EOF\necho heredoc\nEOF\nCOPY <<EOF /x\nhi\nEOF\nRUN ["echo", "exec"]\n');
    expect(labels(p)).toEqual([
      `[1/5] FROM docker.io/library/busybox:local@${DIGEST}`,
      '[2/5] RUN echo a &&     echo   b',
      '[3/5] RUN <<EOF (echo heredoc)',
      '[4/5] COPY <<EOF /x',
      '[5/5] RUN ["echo", "exec"]',
    ]);
  });

  it('pads the number to the width of the total', async () => {
    const p = await plan(`FROM busybox:local\n${Array.from({ length: 11 }, (_, i) => `RUN echo ${i + 1}`).join('\n')}\n`);
    const all = labels(p);
    expect(all[0]).toBe(`[ 1/12] FROM docker.io/library/busybox:local@${DIGEST}`);
    expect(all[1]).toBe('[ 2/12] RUN echo 1');
    expect(all[11]).toBe('[12/12] RUN echo 11');
  });

  it('does not count FROM <stage> or FROM scratch', async () => {
    const p = await plan('FROM busybox:local AS base\nRUN echo base > /b\nFROM base AS next\nRUN echo next\nENV X=1\nFROM next\nRUN echo last\n');
    expect(labels(p)).toEqual([
      `[base 1/2] FROM docker.io/library/busybox:local@${DIGEST}`,
      '[base 2/2] RUN echo base > /b',
      '[next 1/1] RUN echo next',
      '[stage-2 1/1] RUN echo last',
    ]);
  });

  it('names stages by their Dockerfile index with --target, and counts every WORKDIR and ADD', async () => {
    const text = 'FROM busybox:local AS a\nRUN echo a\nFROM busybox:local\nCOPY --from=busybox:local /bin/true /t\nADD Dockerfile /x\nWORKDIR /w\nWORKDIR /w\nUSER nobody\nRUN echo hi\n';
    expect(labels(await plan(text))).toEqual([
      `[stage-1 1/6] FROM docker.io/library/busybox:local@${DIGEST}`,
      '[stage-1 2/6] COPY --from=busybox:local /bin/true /t',
      '[stage-1 3/6] ADD Dockerfile /x',
      '[stage-1 4/6] WORKDIR /w',
      '[stage-1 5/6] WORKDIR /w',
      '[stage-1 6/6] RUN echo hi',
    ]);
    expect(labels(await plan(text, 'a'))).toEqual([`[a 1/2] FROM docker.io/library/busybox:local@${DIGEST}`, '[a 2/2] RUN echo a']);
  });

  it('names a one-stage file stage-0 when it reads another image, whose FROM has no prefix', async () => {
    const p = await plan('FROM busybox:local\nCOPY --from=differ/p01-basic:latest /bin/true /t\nRUN --mount=from=differ/p02-args,target=/m true\n');
    expect(labels(p)).toEqual([
      `[stage-0 1/3] FROM docker.io/library/busybox:local@${DIGEST}`,
      '[stage-0 2/3] COPY --from=differ/p01-basic:latest /bin/true /t',
      '[stage-0 3/3] RUN --mount=from=differ/p02-args,target=/m true',
    ]);
    expect(planLabels(p).images).toEqual(['busybox:local', 'differ/p01-basic:latest', 'differ/p02-args']);
    expect(imageLabel(p, 'differ/p02-args', DIGEST)).toBe(`FROM docker.io/differ/p02-args:latest@${DIGEST}`);
    expect(plannedStepCount(p)).toBe(5);
  });

  it('marks and counts ONBUILD triggers of the base', async () => {
    // Docker 26 prints `[2/2] RUN echo onbuild` then `[3/2] RUN echo after`; current BuildKit
    // counts the trigger and says ONBUILD, which is what berth follows.
    const p = await plan('FROM onb\nRUN echo after\n', undefined, ['RUN echo onbuild']);
    expect(labels(p)).toEqual([`[1/3] FROM docker.io/library/onb:latest@${DIGEST}`, '[2/3] ONBUILD RUN echo onbuild', '[3/3] RUN echo after']);
  });

  it('pins names as BuildKit does', () => {
    expect(pinnedName('busybox:local', DIGEST)).toBe(`docker.io/library/busybox:local@${DIGEST}`);
    expect(pinnedName('busybox', DIGEST)).toBe(`docker.io/library/busybox:latest@${DIGEST}`);
    expect(pinnedName(`busybox@${DIGEST}`, 'sha256:other')).toBe(`docker.io/library/busybox@${DIGEST}`);
    expect(pinnedName('localhost:5000/app:1')).toBe('localhost:5000/app:1');
    expect(metadataLabel('busybox:local')).toBe('[internal] load metadata for docker.io/library/busybox:local');
  });
});
