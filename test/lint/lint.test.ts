/**
 * Each rule's exact message and line range as BuildKit reports them, with a passing variant next
 * to it, plus the check options (skip, error, experimental, the build arg).
 */
import { describe, expect, it } from 'vitest';
import { parseDockerfile } from '../../src/syntax/index.ts';
import { compileIgnore } from '../../src/context/dockerignore.ts';
import { lintDockerfile, parseCheckOptions, type LintOptions } from '../../src/lint/index.ts';

async function lint(text: string, options: LintOptions = {}): Promise<string[]> {
  const result = await lintDockerfile(parseDockerfile(text, 'Dockerfile'), options);
  return result.warnings.map((w) => `${w.rule} ${w.startLine}-${w.endLine}: ${w.message}`);
}

describe('rule messages and locations (BuildKit ruleset.go)', () => {
  it.each([
    ['FROM alpine AS BuilderBase\n', 'StageNameCasing 1-1: Stage name \'BuilderBase\' should be lowercase'],
    ['FROM debian:latest as builder\n', "FromAsCasing 1-1: 'as' and 'FROM' keywords' casing do not match"],
    ['from debian AS builder\n', "FromAsCasing 1-1: 'AS' and 'from' keywords' casing do not match"],
    ['FROM alpine\nEXPOSE \\\n\n80\n', 'NoEmptyContinuation 4-4: Empty continuation line'],
    ['FROM a AS x\nFROM b AS x\n', 'DuplicateStageName 2-2: Duplicate stage name "x", stage names should be unique'],
    ['FROM alpine AS scratch\n', 'ReservedStageName 1-1: Stage name should not use the same name as reserved stage "scratch"'],
    ['FROM alpine\nENTRYPOINT my-program start\n', 'JSONArgsRecommended 2-2: JSON arguments recommended for ENTRYPOINT to prevent unintended behavior related to OS signals'],
    ['FROM scratch\nMAINTAINER me\n', 'MaintainerDeprecated 2-2: Maintainer instruction is deprecated in favor of using label'],
    ['FROM node:22${VARIANT} AS jsbuilder\n', "UndefinedArgInFrom 1-1: FROM argument 'VARIANT' is not declared"],
    ['ARG VARIANT\nFROM node:22${VARIAN}\n', "UndefinedArgInFrom 2-2: FROM argument 'VARIAN' is not declared (did you mean VARIANT?)"],
    ['FROM nginx\nWORKDIR usr/share\n', 'WorkdirRelativePath 2-2: Relative workdir "usr/share" can have unexpected results if the base image changes'],
    ['FROM alpine\nENV PATH=$PAHT:/app/bin\n', "UndefinedVar 2-2: Usage of undefined variable '$PAHT' (did you mean $PATH?)"],
    ['FROM alpine\nCOPY $foo .\n', "UndefinedVar 2-2: Usage of undefined variable '$foo'"],
    ['FROM alpine\nCMD ["a"]\nCMD ["b"]\n', 'MultipleInstructionsDisallowed 2-2: Multiple CMD instructions should not be used in the same stage because only the last one will be used'],
    ['FROM alpine\nENV DEPS \\\n    curl \\\n    git\n', 'LegacyKeyValueFormat 2-4: "ENV key=value" should be used instead of legacy "ENV key value" format'],
    ['FROM alpine\nlabel a b\n', 'ConsistentInstructionCasing 2-2: Command \'label\' should match the case of the command majority (uppercase)'],
    ['FROM --platform=$TARGETPLATFORM alpine\n', 'RedundantTargetPlatform 1-1: Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior'],
    ['FROM alpine\nARG AWS_SECRET_ACCESS_KEY\n', 'SecretsUsedInArgOrEnv 2-2: Do not use ARG or ENV instructions for sensitive data (ARG "AWS_SECRET_ACCESS_KEY")'],
    ['ARG TAG\nFROM busybox:${TAG}\n', 'InvalidDefaultArgInFrom 2-2: Default value for ARG busybox:${TAG} results in empty or invalid base image name'],
    ['FROM --platform=linux/amd64 alpine AS base\n', 'FromPlatformFlagConstDisallowed 1-1: FROM --platform flag should not use constant value "linux/amd64"'],
    ['FROM alpine\nEXPOSE 80/TcP\n', "ExposeProtoCasing 2-2: Defined protocol '80/TcP' in EXPOSE instruction should be lowercase"],
    ['FROM alpine\nEXPOSE 127.0.0.1:80:80\n', "ExposeInvalidFormat 2-2: EXPOSE instruction should not define an IP address or host-port mapping, found '127.0.0.1:80:80'"],
  ])('%j', async (text, expected) => {
    expect(await lint(text)).toContain(expected);
  });

  it('ConsistentInstructionCasing: mixed-case words are always flagged, the majority decides', async () => {
    expect(await lint('From alpine\nrun a\nrun b\n')).toEqual(["ConsistentInstructionCasing 1-1: Command 'From' should match the case of the command majority (lowercase)"]);
    expect(await lint('from alpine\nrun a\n')).toEqual([]);
  });

  it('MultipleInstructionsDisallowed is reported at each earlier instruction, per stage', async () => {
    const out = await lint('FROM a\nENTRYPOINT ["x"]\nENTRYPOINT ["y"]\nENTRYPOINT ["z"]\nFROM b\nENTRYPOINT ["w"]\n');
    expect(out.filter((w) => w.startsWith('Multiple'))).toEqual([
      'MultipleInstructionsDisallowed 2-2: Multiple ENTRYPOINT instructions should not be used in the same stage because only the last one will be used',
      'MultipleInstructionsDisallowed 3-3: Multiple ENTRYPOINT instructions should not be used in the same stage because only the last one will be used',
    ]);
  });

  it('a heredoc body belongs to its instruction\'s lines', async () => {
    expect(await lint('FROM a\nCOPY <<EOF /x\n$undefined\nEOF\n')).toEqual(["UndefinedVar 2-4: Usage of undefined variable '$undefined'"]);
    expect(await lint("FROM a\nCOPY <<'EOF' /x\n$undefined\nEOF\n")).toEqual([]);
  });

  it('UndefinedVar: ARG declarations, ENV, base image ENV, parent stages and RUN shell form', async () => {
    expect(await lint('FROM a\nARG foo\nCOPY $foo .\n')).toEqual([]);
    expect(await lint('FROM a AS base\nENV X=1\nFROM base\nCOPY $X .\n')).toEqual([]);
    expect(await lint('FROM a\nRUN echo $nope\nCMD ["$nope"]\n')).toEqual([]);
    // ENV expands all its pairs before setting any (as BuildKit does)
    expect(await lint('FROM a\nENV A=1 B=$A\n')).toEqual(["UndefinedVar 2-2: Usage of undefined variable '$A'"]);
    const lookup = async () => ({ env: ['PYTHON_VERSION=3'] });
    expect(await lint('FROM python\nARG V=$PYTHON_VERSION\n', { lookup })).toEqual([]);
    expect(await lint('FROM python\nARG V=$PYTHON_VERSION\n')).toEqual(["UndefinedVar 2-2: Usage of undefined variable '$PYTHON_VERSION'"]);
  });

  it('WorkdirRelativePath: only the first WORKDIR of a stage chain counts', async () => {
    expect(await lint('FROM a\nWORKDIR /app\nWORKDIR src\n')).toEqual([]);
    expect(await lint('FROM a AS b\nWORKDIR /app\nFROM b\nWORKDIR src\n')).toEqual([]);
    // A drive letter is absolute on a Windows base, not on Linux.
    expect(await lint('FROM w\nWORKDIR C:/go\n', { lookup: async () => ({ os: 'windows', architecture: 'amd64' }) })).toEqual([
      'InvalidBaseImagePlatform 1-1: Base image w was pulled with platform "windows/amd64", expected "linux/amd64" for current build',
    ]);
    expect(await lint('FROM w\nWORKDIR C:/go\n')).toEqual(['WorkdirRelativePath 2-2: Relative workdir "C:/go" can have unexpected results if the base image changes']);
  });

  it('JSONArgsRecommended is off once a SHELL is set (here or in the base image)', async () => {
    expect(await lint('FROM a\nSHELL ["/bin/bash", "-c"]\nCMD echo\n')).toEqual([]);
    expect(await lint('FROM a\nCMD echo\n', { lookup: async () => ({ shell: ['/bin/bash', '-c'] }) })).toEqual([]);
  });

  it('SecretsUsedInArgOrEnv: token words only, PUBLIC allowed, global ARGs not dispatched', async () => {
    expect(await lint('FROM a\nENV GITHUB_TOKEN=x MONKEY=1 PUBLIC_KEY=k\n')).toEqual(['SecretsUsedInArgOrEnv 2-2: Do not use ARG or ENV instructions for sensitive data (ENV "GITHUB_TOKEN")']);
    expect(await lint('ARG PASSWORD=x\nFROM a\n')).toEqual([]);
  });

  it('FromPlatformFlagConstDisallowed: not when the stage name says the platform', async () => {
    expect(await lint('FROM --platform=linux/amd64 alpine AS build_amd64\n')).toEqual([]);
    expect(await lint('FROM --platform=$BUILDPLATFORM alpine\n')).toEqual([]);
  });

  it('CopyIgnoredFile: context sources only (not COPY --from, not ADD of a URL)', async () => {
    const ignore = compileIgnore(['secret', '*/tmp/*']);
    expect(await lint('FROM a\nCOPY ./tmp/x secret /d/\nCOPY --from=a secret /d\nADD https://h/secret /d\nADD secret /e\n', { ignore })).toEqual([
      'CopyIgnoredFile 2-2: Attempting to Copy file "./tmp/x" that is excluded by .dockerignore',
      'CopyIgnoredFile 2-2: Attempting to Copy file "secret" that is excluded by .dockerignore',
      'CopyIgnoredFile 5-5: Attempting to Add file "secret" that is excluded by .dockerignore',
    ]);
  });

  it('InvalidBaseImagePlatform, from the base image facts', async () => {
    const lookup = async () => ({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(await lint('FROM img\n', { lookup })).toEqual(['InvalidBaseImagePlatform 1-1: Base image img was pulled with platform "linux/arm64/v8", expected "linux/amd64" for current build']);
    expect(await lint('FROM img\n', { lookup: async () => ({ os: 'linux', architecture: 'amd64' }) })).toEqual([]);
  });

  it('InvalidDefinitionDescription is experimental: off unless asked for', async () => {
    const text = '# a non-descriptive comment\nFROM scratch AS base\n# VERSION the version\nARG VERSION=1\n';
    expect(await lint(text)).toEqual([]);
    expect(await lint(`# check=experimental=InvalidDefinitionDescription\n\n${text}`)).toEqual([
      'InvalidDefinitionDescription 4-4: Comment for FROM should follow the format: `# base <description>`',
    ]);
  });

  it('the dispatch rules skip stages a build does not reach; the parse rules do not', async () => {
    const text = 'FROM a AS Unused\nCOPY $x .\nFROM b\n';
    expect(await lint(text, { reachable: new Set([1]) })).toEqual(["StageNameCasing 1-1: Stage name 'Unused' should be lowercase"]);
  });
});

describe('check options', () => {
  it('parses skip, error and experimental as BuildKit does', () => {
    const c = parseCheckOptions(' skip = JSONArgsRecommended, StageNameCasing ;error=true;experimental=all');
    expect([...c.skip]).toEqual(['JSONArgsRecommended', 'StageNameCasing']);
    expect(c.error).toBe(true);
    expect(c.experimentalAll).toBe(true);
    expect(parseCheckOptions('skip=all').skipAll).toBe(true);
    expect(() => parseCheckOptions('skip')).toThrow('invalid check option "skip"');
    expect(() => parseCheckOptions('bogus=1')).toThrow('invalid check option "bogus"');
    expect(() => parseCheckOptions('error=maybe')).toThrow(/failed to parse check option "error=maybe"/);
  });

  it('the directive skips rules and error=true turns warnings into a failure', async () => {
    const text = '# check=skip=JSONArgsRecommended;error=true\nFROM a as b\nCMD x\n';
    const result = await lintDockerfile(parseDockerfile(text, 'Dockerfile'));
    expect(result.warnings.map((w) => w.rule)).toEqual(['FromAsCasing']);
    expect(result.failure).toBe('lint violation found for rules: FromAsCasing');
  });

  it('BUILDKIT_DOCKERFILE_CHECK replaces the directive entirely', async () => {
    const text = '# check=skip=all\nFROM a as b\n';
    const parsed = parseDockerfile(text, 'Dockerfile');
    expect((await lintDockerfile(parsed)).warnings).toEqual([]);
    const result = await lintDockerfile(parsed, { buildArgs: new Map([['BUILDKIT_DOCKERFILE_CHECK', 'error=false']]) });
    expect(result.warnings.map((w) => w.rule)).toEqual(['FromAsCasing']);
    expect(result.failure).toBeUndefined();
  });

  it('a bad directive is an error', async () => {
    await expect(lintDockerfile(parseDockerfile('# check=nope\nFROM a\n', 'Dockerfile'))).rejects.toThrow('failed to parse check options: invalid check option "nope"');
  });
});
