import { describe, expect, it } from 'vitest';
import { formatOutline, formatTargets, outlineOf, parseCall } from '../../src/cli/outline.ts';
import { planBuild } from '../../src/plan/index.ts';
import { parseDockerfile } from '../../src/syntax/index.ts';

const DOCKERFILE = [
  '# GO_VERSION sets the Go version', 'ARG GO_VERSION=1.22', 'ARG DEBUG', '',
  '# deps fetches the dependencies', 'FROM scratch AS deps', '# MODE picks the build mode', 'ARG MODE=fast',
  'RUN --mount=type=secret,id=token,required=true cat /run/secrets/token', '',
  'FROM scratch AS tools', 'ARG UNUSED=1', 'RUN true', '',
  '# release the final image', 'FROM deps AS release', 'RUN --mount=type=secret,target=/run/secrets/npmrc --mount=type=ssh true', '',
].join('\n');

describe('--call', () => {
  it('reads the method and format=json', () => {
    expect(parseCall(undefined)).toEqual({ method: 'build', json: false });
    expect(parseCall('outline,format=json')).toEqual({ method: 'outline', json: true });
    expect(() => parseCall('lint')).toThrow(/invalid --call/);
    expect(() => parseCall('targets,format=yaml')).toThrow(/invalid --call option/);
  });

  it('targets: the named stages with their descriptions, the last one the default', () => {
    expect(formatTargets(parseDockerfile(DOCKERFILE, 'Dockerfile'), false)).toBe(
      'TARGET             DESCRIPTION\ndeps               fetches the dependencies\ntools\nrelease (default)  the final image\n');
  });

  it('outline: the target\'s build args (given values first), secrets and ssh, not other stages\' args', async () => {
    const parsed = parseDockerfile(DOCKERFILE, 'Dockerfile');
    const buildArgs = new Map([['DEBUG', '1']]);
    const outline = outlineOf(parsed, await planBuild(parsed, { buildArgs }), buildArgs);
    expect(outline).toEqual({
      name: 'release', description: 'the final image',
      args: [
        { name: 'GO_VERSION', value: '1.22', description: 'sets the Go version' }, { name: 'DEBUG', value: '1' },
        { name: 'MODE', value: 'fast', description: 'picks the build mode' },
      ],
      secrets: [{ name: 'token', required: true }, { name: 'npmrc' }],
      ssh: [{ name: 'default' }],
    });
    expect(formatOutline(outline, false)).toContain('SECRET  REQUIRED\ntoken   true\nnpmrc\n');
    const json = JSON.parse(formatOutline({ ...outline, ssh: [] }, true)) as Record<string, unknown>;
    expect(json.ssh).toBeUndefined();
  });
});
