/**
 * The front end where Docker 26's BuildKit (0.13) decides, and where berth keeps the reference
 * although Docker 26 does not; each `it` names the reason. The builds themselves are checked
 * against Docker 26 by the differential cases under test/conformance/cases.
 */
import { describe, expect, it } from 'vitest';
import { BuildError } from '../../src/source/index.ts';
import { parseDockerfile } from '../../src/syntax/index.ts';
import { planBuild, type BuildPlan, type CopyOp, type RunOp } from '../../src/plan/index.ts';
import { checkDockerfile } from '../../src/plan/check.ts';
import { parseChmod } from '../../src/copy/execute.ts';

const plan = (text: string, buildArgs?: Record<string, string>): Promise<BuildPlan> =>
  planBuild(parseDockerfile(text, 'Dockerfile'), buildArgs ? { buildArgs: new Map(Object.entries(buildArgs)) } : {});
const ops = <K extends 'run' | 'copy'>(p: BuildPlan, kind: K): Array<K extends 'run' ? RunOp : CopyOp> =>
  p.vertices.flatMap((v) => (v.op.kind === kind ? [v.op as K extends 'run' ? RunOp : CopyOp] : []));

async function errorOf(text: string): Promise<BuildError> {
  const errors = await checkDockerfile(parseDockerfile(text, 'Dockerfile'));
  expect(errors.length).toBeGreaterThan(0);
  return errors[0];
}

describe('where Docker 26 decides', () => {
  // BuildKit's ArgCommand.Expand expands the key as well as the value.
  // Before FROM the names stay as written (Docker 26: `ARG ${n}=bar` there defines no foo).
  it('expands ARG names like values in a stage, not before FROM', async () => {
    const p = await plan('ARG n=foo\nARG ${n}=bar\nFROM scratch\nARG foo\nENV src=file3\nARG ${src}=hello pre${src}=v2\nRUN echo $foo $file3 $prefile3\n');
    const env = ops(p, 'run')[0].env;
    expect(env).toEqual(expect.arrayContaining(['file3=hello', 'prefile3=v2']));
    expect(env.some((e) => e.startsWith('foo='))).toBe(false);
    const given = await plan('FROM scratch\nENV src=file3\nARG ${src}\nRUN echo $file3\n', { file3: 'given' });
    expect(ops(given, 'run')[0].env).toContain('file3=given');
  });

  // BuildKit cleans an empty source to ".": `COPY ""` and an empty variable copy the root.
  it('copies the context root for an empty source', async () => {
    const p = await plan('FROM scratch\nARG E\nCOPY "" /a/\nCOPY ["", "/b/"]\nCOPY $E /c/\n');
    expect(ops(p, 'copy').map((c) => c.sources)).toEqual([['.'], ['.'], ['.']]);
  });

  // BuildKit's parseSourcesAndDest; 20.10's frontend knew no heredocs and wrote a file "/<<EOF".
  it('refuses a heredoc as the COPY or ADD destination', async () => {
    for (const keyword of ['COPY', 'ADD']) {
      const error = await errorOf(`FROM scratch\n${keyword} f.txt <<EOF\nhello\nEOF\n`);
      expect(error.message).toBe(`${keyword} cannot accept a heredoc as a destination`);
      expect(error.range?.start.line).toBe(2);
    }
    const quoted = await errorOf('FROM scratch\nCOPY f.txt <<"EOF"\nhello\nEOF\n');
    expect(quoted.message).toMatch(/cannot accept a heredoc/);
  });

  // dockerfile2llb mounts at filepath.Join("/", workdir, target); moby/buildkit's own Dockerfile
  // relies on it (`RUN --mount=from=binaries`).
  it('plans a RUN --mount without target, and gives such a cache the id "."', async () => {
    const p = await plan('FROM scratch AS bins\nFROM scratch\nWORKDIR /w\nRUN --mount=from=bins --mount=type=cache --mount=type=tmpfs true\n');
    const mounts = ops(p, 'run')[0].mounts;
    expect(mounts.map((m) => [m.type, m.target])).toEqual([['bind', ''], ['cache', ''], ['tmpfs', '']]);
    expect(mounts[1].id).toBe('.');
    const cleaned = await plan('FROM scratch\nRUN --mount=type=cache,target=/var/cache/x/ true\n');
    expect(ops(cleaned, 'run')[0].mounts[0].id).toBe('/var/cache/x');
  });
});

describe('where berth keeps the reference and newer BuildKit, not Docker 26', () => {
  // BuildKit's dockerfile 1.9 frontend: JSON followed by more text is not the exec form (the
  // reference: exec form is a JSON array); Docker 26's built-in frontend still took the array.
  it('runs a JSON array followed by other text as the shell form', async () => {
    const p = await plan('FROM scratch\nRUN ["echo","a"] b\n');
    expect(ops(p, 'run')[0].argv).toEqual(['/bin/sh', '-c', '["echo","a"] b']);
  });

  // Stage names are case-insensitive in the reference (BuildKit lowercases them); Docker 26
  // takes `FROM Build` for an image and fails ("repository name must be lowercase").
  it('finds upper-case stage names in FROM and --from', async () => {
    const p = await plan('FROM scratch AS Build\nRUN a\nFROM Build\nCOPY --from=BUILD /x /y\n');
    expect(p.stages.map((s) => s.index)).toEqual([0, 1]);
    expect(ops(p, 'copy')[0].from).toEqual({ kind: 'stage', stage: 0 });
  });

  // The reference documents symbolic and variable --chmod from dockerfile 1.14; Docker 26's
  // built-in frontend ignores a non-octal mode.
  it('applies symbolic and variable --chmod modes', async () => {
    const p = await plan('FROM scratch\nARG M=u+x,go=rX\nCOPY --chmod=$M f /f\n');
    const copy = ops(p, 'copy')[0];
    expect(copy.chmod).toBe('u+x,go=rX');
    const apply = parseChmod(copy.chmod!, p.vertices[0].range);
    expect(apply(0o600, false).toString(8)).toBe('744');
    expect(apply(0o700, true).toString(8)).toBe('755');
  });

  // The reference documents `env` for secret mounts since Dockerfile v1.10.0; Docker 26's
  // built-in frontend refuses it ("unexpected key 'env'").
  it('takes a secret mount into an environment variable with env=', async () => {
    const p = await plan('FROM scratch\nRUN --mount=type=secret,id=API_KEY,env=API_KEY true\n');
    expect(ops(p, 'run')[0].mounts[0]).toMatchObject({ type: 'secret', id: 'API_KEY', env: 'API_KEY', target: '' });
  });

  // COPY --link as the reference documents it (a layer of its own, independent of the files
  // below); Docker 26's containerd store agrees, its classic store treats it as a plain COPY.
  it('keeps COPY --link as its own independent step', async () => {
    const p = await plan('FROM scratch\nCOPY --link a /dir/\n');
    expect(ops(p, 'copy')[0].link).toBe(true);
  });
});
