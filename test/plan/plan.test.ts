import { describe, expect, it } from 'vitest';
import { BuildError } from '../../src/source/index.ts';
import { parseDockerfile } from '../../src/syntax/index.ts';
import { planBuild, type BuildPlan, type PlanOptions, type RunOp, type CopyOp } from '../../src/plan/index.ts';

async function plan(text: string, options: PlanOptions = {}): Promise<BuildPlan> {
  return planBuild(parseDockerfile(text, 'Dockerfile'), options);
}

async function planError(text: string, options: PlanOptions = {}): Promise<BuildError> {
  try {
    await plan(text, options);
  } catch (error) {
    expect(error).toBeInstanceOf(BuildError);
    return error as BuildError;
  }
  throw new Error('expected a BuildError');
}

function runs(p: BuildPlan): RunOp[] {
  return p.vertices.flatMap((v) => (v.op.kind === 'run' ? [v.op] : []));
}

describe('stages and targets', () => {
  it('plans only the stages the target needs', async () => {
    const p = await plan('FROM scratch AS a\nRUN a\nFROM scratch AS b\nRUN b\nFROM scratch AS c\nCOPY --from=a /x /x\n');
    expect(p.stages.map((s) => s.index)).toEqual([0, 2]);
    expect(p.stages[1].dependsOn).toEqual([0]);
    const b = await plan('FROM scratch AS a\nRUN a\nFROM scratch AS b\nRUN b\n', { target: 'b' });
    expect(b.stages.map((s) => s.name)).toEqual(['b']);
  });

  it('resolves FROM of an earlier stage and copies by index', async () => {
    const p = await plan('FROM scratch AS base\nENV A=1\nFROM base\nRUN echo $A\nFROM scratch\nCOPY --from=1 /a /a\n');
    expect(p.stages.map((s) => s.index)).toEqual([0, 1, 2]);
    const copy = p.vertices.find((v) => v.op.kind === 'copy')!.op as CopyOp;
    expect(copy.from).toEqual({ kind: 'stage', stage: 1 });
    expect(runs(p)[0].env).toContain('A=1');
  });

  it('rejects an unknown target with a suggestion', async () => {
    const error = await planError('FROM scratch AS build\nFROM scratch AS final\n', { target: 'buid' });
    expect(error.message).toContain('buid');
    expect(error.suggestion).toContain('build');
  });

  it('rejects later-stage indexes and resolves a repeated stage name to its latest definition', async () => {
    expect((await planError('FROM scratch\nCOPY --from=0 /a /b\n')).message).toMatch(/current or later stage/);
    expect((await planError('FROM scratch\nCOPY --from=7 /a /b\n')).message).toMatch(/invalid stage index 7/);
    const p = await plan('FROM scratch AS one\nLABEL v=1\nFROM one AS mid\nFROM scratch AS one\nLABEL v=2\nFROM mid\nCOPY --from=one /f /f\n');
    const copy = p.vertices.find((v) => v.op.kind === 'copy')!.op as CopyOp;
    expect(copy.from).toEqual({ kind: 'stage', stage: 2 });
    expect(p.stages.find((s) => s.index === 1)!.base).toEqual({ kind: 'stage', stage: 0 });
  });

  it('never expands --from, as Docker does', async () => {
    expect((await planError('FROM scratch AS one\nFROM scratch\nARG S=one\nCOPY --from=$S /a /b\n')).message).toMatch(/variable expansion is not supported for --from/);
  });

  it('looks up only the base images of stages the target needs', async () => {
    const looked: string[] = [];
    await plan('FROM unused.invalid/x:1 AS unused\nFROM other AS used\nFROM scratch\nCOPY --from=used /a /a\n', {
      resolveImage: async (ref) => { looked.push(ref); return undefined; },
    });
    expect(looked).toEqual(['other']);
    expect((await planError('ARG E\nFROM ${E} AS unused\nFROM scratch\n')).message).toMatch(/base name \(\$\{E\}\) should not be blank/);
  });

  it('refuses platforms other than linux/amd64 clearly', async () => {
    const error = await planError('FROM --platform=linux/arm64 scratch\n');
    expect(error.message).toMatch(/linux\/amd64/);
    expect(error.range?.start.line).toBe(1);
    await plan('FROM --platform=$BUILDPLATFORM scratch\n');
  });
});

describe('ARG and ENV scoping', () => {
  it('makes global ARGs usable in FROM and in a stage only when redeclared', async () => {
    const p = await plan('ARG BASE=scratch\nARG V=1\nFROM ${BASE}\nRUN echo one\nARG V\nRUN echo two\n');
    const [one, two] = runs(p);
    expect(one.env.some((e) => e.startsWith('V='))).toBe(false);
    expect(two.env).toContain('V=1');
  });

  it('lets --build-arg override defaults and reports unused ones', async () => {
    const p = await plan('FROM scratch\nARG A=default\nRUN x\n', { buildArgs: new Map([['A', 'cli'], ['UNUSED', '1']]) });
    expect(runs(p)[0].env).toContain('A=cli');
    expect(p.unusedBuildArgs).toEqual(['UNUSED']);
  });

  it('gives ENV precedence over ARG and expands with the state before each instruction', async () => {
    const p = await plan('FROM scratch\nARG X=arg\nENV X=env\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\nWORKDIR /$X\n');
    const last = p.vertices.at(-1)!;
    expect(last.config?.WorkingDir).toBe('/env');
    expect(last.config?.Env).toEqual(expect.arrayContaining(['def=hello', 'ghi=bye']));
  });

  it('lets the last of ENV and ARG win in the build environment, leaving ARGs out of the image', async () => {
    const p = await plan('FROM scratch\nENV X=env\nARG X=arg\nLABEL x=$X\nRUN echo\n');
    expect(p.stages[0].config.Labels).toEqual({ x: 'arg' });
    expect(runs(p)[0].env).toContain('X=arg');
    expect(p.stages[0].config.Env).toContain('X=env');
  });

  it('carries ARG values into a stage built FROM it', async () => {
    const p = await plan('FROM scratch AS p\nARG PA=x\nFROM p\nLABEL pa=$PA\nRUN echo\n');
    expect(p.stages[1].config.Labels).toEqual({ pa: 'x' });
    expect(runs(p).at(-1)!.env).toContain('PA=x');
  });

  it('exposes automatic platform args only after ARG in a stage', async () => {
    const p = await plan('FROM scratch\nARG TARGETARCH\nRUN echo $TARGETARCH\n');
    expect(runs(p)[0].env).toContain('TARGETARCH=amd64');
  });

  it('puts proxy build args in RUN without an ARG line, but not in the cache-relevant buildArgs', async () => {
    const p = await plan('FROM scratch\nRUN x\n', { buildArgs: new Map([['http_proxy', 'http://p']]) });
    expect(runs(p)[0].env).toContain('http_proxy=http://p');
    expect(runs(p)[0].buildArgs).toEqual([]);
  });
});

describe('config', () => {
  it('builds the image config like docker build', async () => {
    const p = await plan([
      'FROM scratch', 'LABEL "a b"=c d=e', 'EXPOSE 80 53/udp 8000-8001', 'VOLUME ["/data"]', 'USER app',
      'STOPSIGNAL SIGTERM', 'HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://x', 'SHELL ["/bin/bash", "-c"]',
      'CMD echo hi', 'ONBUILD RUN echo later', '',
    ].join('\n'));
    const c = p.stages[0].config;
    expect(c.Labels).toEqual({ 'a b': 'c', d: 'e' });
    expect(Object.keys(c.ExposedPorts!)).toEqual(['80/tcp', '53/udp', '8000/tcp', '8001/tcp']);
    expect(c.Volumes).toEqual({ '/data': {} });
    expect(c.User).toBe('app');
    expect(c.Healthcheck).toEqual({ Test: ['CMD-SHELL', 'curl -f http://x'], Interval: 5e9, Retries: 3 });
    expect(c.Cmd).toEqual(['/bin/bash', '-c', 'echo hi']);
    expect(c.OnBuild).toEqual(['RUN echo later']);
  });

  it('follows BuildKit for scratch, CMD, ENTRYPOINT [], WORKDIR, VOLUME and STOPSIGNAL', async () => {
    const p = await plan('FROM scratch\nCMD ["a"]\nENTRYPOINT []\nVOLUME ["/a ", " /b"]\nWORKDIR /x/../y/\n');
    const c = p.stages[0].config;
    expect(c.ArgsEscaped).toBe(true);
    expect(c.Entrypoint).toBeNull();
    expect(Object.keys(c.Volumes!)).toEqual(['/a', '/b']);
    expect(c.WorkingDir).toBe('/x/../y/');
    expect((await plan('FROM scratch\nLABEL a=b\n')).stages[0].config.WorkingDir).toBe('/');
    expect((await planError('FROM scratch\nSTOPSIGNAL SIGFOO\n')).message).toMatch(/Invalid signal: SIGFOO/);
    await plan('FROM scratch\nSTOPSIGNAL SIGRTMIN+3\nSTOPSIGNAL 9\nSTOPSIGNAL usr1\n');
  });

  it('resets an inherited CMD when ENTRYPOINT is set, but not one set in the same stage', async () => {
    const inherited = await plan('FROM scratch AS a\nCMD ["x"]\nFROM a\nENTRYPOINT ["e"]\n');
    expect(inherited.stages[1].config.Cmd).toBeNull();
    const own = await plan('FROM scratch\nCMD ["x"]\nENTRYPOINT ["e"]\n');
    expect(own.stages[0].config.Cmd).toEqual(['x']);
  });

  it('runs ONBUILD triggers of the base and clears them', async () => {
    const p = await plan('FROM scratch\nFROM base\nRUN y\n', {
      target: undefined,
      resolveImage: async () => ({ config: { OnBuild: ['RUN echo triggered'] } }),
    });
    expect(runs(p).map((r) => r.argv.at(-1))).toEqual(['echo triggered', 'y']);
    expect(p.stages.at(-1)!.config.OnBuild).toBeNull();
  });

  it('resolves relative WORKDIR and COPY destinations', async () => {
    const p = await plan('FROM scratch\nWORKDIR /a\nWORKDIR b\nCOPY x y/\nCOPY x .\n');
    const copies = p.vertices.flatMap((v) => (v.op.kind === 'copy' ? [v.op.dest] : []));
    expect(copies).toEqual(['/a/b/y/', '/a/b/']);
    expect(p.vertices.filter((v) => v.op.kind === 'workdir').map((v) => (v.op as { path: string }).path)).toEqual(['/a', '/a/b']);
  });
});

describe('errors carry locations', () => {
  it('points unknown instructions and flags at their line with a suggestion', async () => {
    const e1 = await planError('FROM scratch\nRUNN echo\n');
    expect(e1.range?.start.line).toBe(2);
    expect(e1.suggestion).toContain('RUN');
    const e2 = await planError('FROM scratch\nCOPY --chwon=1 a b\n');
    expect(e2.message).toContain('--chwon');
    expect(e2.suggestion).toContain('--chown');
    expect(e2.range?.start.line).toBe(2);
  });

  it('rejects an unknown mount type even in a stage the target does not need', async () => {
    const error = await planError('FROM scratch AS unused\nRUN --mount=type=foo true\nFROM scratch\n');
    expect(error.message).toBe('unsupported mount type "foo"');
    expect(error.range?.start).toEqual({ line: 2, column: 5 });
  });

  it('rejects a Dockerfile without FROM', async () => {
    expect((await planError('RUN x\n')).message).toMatch(/FROM/);
  });
});

describe('RUN network and unsupported flags', () => {
  it('resolves the network once: no flag and --network=default are the build\'s mode', async () => {
    const text = 'FROM scratch\nRUN a\nRUN --network=default b\nRUN --network=none c\nRUN --network=host d\n';
    expect(runs(await plan(text)).map((r) => r.network)).toEqual(['sandbox', 'sandbox', 'none', 'host']);
    expect(runs(await plan(text, { network: 'none' })).map((r) => r.network)).toEqual(['none', 'none', 'none', 'host']);
    expect(runs(await plan(text, { network: 'host' })).map((r) => r.network)).toEqual(['host', 'host', 'none', 'host']);
  });

  it('refuses RUN --device with its location instead of dropping it', async () => {
    const error = await planError('FROM scratch\nRUN --device=/dev/fuse true\n');
    expect(error.message).toContain('RUN --device is not supported');
    expect(error.range?.start.line).toBe(2);
  });
});
