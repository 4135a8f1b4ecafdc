/**
 * Why a step missed the cache, as a plain log shows it: the files of a COPY, a build arg, the base
 * image, the instruction text, or no earlier record. A cache hit explains nothing.
 */
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox } from './harness.ts';

let sb: Sandbox;
beforeAll(async () => { sb = await makeSandbox(); }, 120_000);
afterAll(() => sb?.cleanup());

const misses = (log: string): string[] => [...log.matchAll(/cache miss: (.*)/g)].map((m) => m[1]);

describe('cache miss explanations', () => {
  it('say what changed since the step was last built', async () => {
    const ctx = sb.context({ Dockerfile: 'FROM busybox:local\nARG V=1\nCOPY src /src\nRUN echo $V > /v\n', 'src/a': 'a', 'src/b': 'b' });
    const build = (...args: string[]) => sb.berth(['build', '--progress', 'plain', ...args, ctx]);
    expect(misses((await build()).stderr)).toEqual(['no earlier record of this step', 'no earlier record of this step']);
    expect(misses((await build()).stderr)).toEqual([]);
    writeFileSync(path.join(ctx, 'src/a'), 'a2');
    rmSync(path.join(ctx, 'src/b'));
    writeFileSync(path.join(ctx, 'src/c'), 'c');
    chmodSync(path.join(ctx, 'src'), 0o700);
    const changed = misses((await build('--build-arg', 'V=2')).stderr);
    expect(changed).toEqual([
      'file src: mode 755 -> 700', 'file src/a: content', 'file src/c added', 'file src/b removed',
      'an earlier step of this stage (or a stage it uses) changed', 'build arg or env V changed: "1" -> "2"',
    ]);
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox:local\nARG V=1\nCOPY src /src\nRUN echo $V >  /v && true\n');
    expect(misses((await build('--build-arg', 'V=2')).stderr)).toEqual(['the instruction changed (was: RUN echo $V > /v)']);
  });

  it('name a new base image', async () => {
    const ctx = sb.context({ Dockerfile: 'FROM base:explain\nRUN echo built > /b\n' });
    expect((await sb.berth(['tag', 'busybox:local', 'base:explain'])).code).toBe(0);
    expect((await sb.berth(['build', '-q', ctx])).code).toBe(0);
    const other = sb.context({ Dockerfile: 'FROM busybox:local\nRUN echo other > /o\n' });
    expect((await sb.berth(['build', '-q', '-t', 'base:explain', other])).code).toBe(0);
    const rebuilt = await sb.berth(['build', '--progress', 'plain', ctx]);
    expect(misses(rebuilt.stderr)).toEqual([expect.stringMatching(/^the base image changed: base:explain@sha256:\w+ -> base:explain@sha256:\w+$/)]);
  });
});
