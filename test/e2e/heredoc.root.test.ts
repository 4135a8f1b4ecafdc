import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox } from './harness.ts';

// Here-documents as the Dockerfile reference describes them (Docker 20.10 cannot check these).
let sb: Sandbox;
beforeAll(async () => { sb = await makeSandbox(); }, 120_000);
afterAll(() => sb?.cleanup());

const DOCKERFILE = [
  '# syntax=docker/dockerfile:1',
  'FROM busybox:local',
  'ARG FOO=bar',
  'RUN <<EOT',
  '  mkdir -p /foo/bar',
  '  echo "only $FOO" > /foo/only',
  'EOT',
  'RUN <<EOT sh',
  '  echo "piped to sh" > /piped',
  'EOT',
  'RUN <<EOT',
  '#!/bin/sh',
  'echo "shebang $0" > /shebang',
  'EOT',
  'RUN <<FILE1 cat > /file1 && <<FILE2 cat > /file2',
  'I am',
  'first',
  'FILE1',
  'I am',
  'second',
  'FILE2',
  'COPY <<-EOT /script.sh',
  '\techo "hello ${FOO}"',
  'EOT',
  'COPY <<-"EOT" /script2.sh',
  '\techo "hello ${FOO}"',
  'EOT',
  '',
].join('\n');

describe('heredocs', () => {
  it('runs RUN heredocs with the shell, a command, a shebang, and several per line; COPY writes them', async () => {
    const built = await sb.berth(['build', '-t', 'heredoc', sb.context({ Dockerfile: DOCKERFILE })]);
    expect(built.code, built.stderr).toBe(0);
    const cat = async (file: string) => (await sb.berth(['run', '--rm', 'heredoc', 'cat', file])).stdout;
    expect(await cat('/foo/only')).toBe('only bar\n');
    expect(await cat('/piped')).toBe('piped to sh\n');
    // A shebang script is run as a file, from a mount that never reaches the image.
    expect(await cat('/shebang')).toBe('shebang /dev/pipes/EOT\n');
    expect((await sb.berth(['run', '--rm', 'heredoc', 'ls', '/dev/pipes'])).code).not.toBe(0);
    expect(await cat('/file1')).toBe('I am\nfirst\n');
    expect(await cat('/file2')).toBe('I am\nsecond\n');
    // <<- strips leading tabs; variables expand but quotes stay; a quoted delimiter expands nothing.
    expect(await cat('/script.sh')).toBe('echo "hello bar"\n');
    expect(await cat('/script2.sh')).toBe('echo "hello ${FOO}"\n');
  });
});
