/**
 * SOURCE_DATE_EPOCH (as a build arg or, as buildx passes it, from the environment) dates the
 * image and what the build added to its history; with `-o type=image,rewrite-timestamp=true`
 * layer members newer than it get its time too, so two builds of the same Dockerfile made at
 * different times (and with no cache) give the same image, byte for byte.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox } from './harness.ts';

let box: Sandbox;
beforeAll(async () => {
  box = await makeSandbox();
});
afterAll(() => box?.cleanup());

const EPOCH = 1700000000;
const DOCKERFILE = 'FROM busybox:local\nCOPY f.txt /f.txt\nRUN echo made > /made && mkdir -p /d/e && touch /d/e/x\n';

async function build(extra: string[]): Promise<{ manifest: string; config: string }> {
  const ctx = box.context({ Dockerfile: DOCKERFILE, 'f.txt': 'f\n' });
  const meta = path.join(ctx, 'meta.json');
  const result = await box.berth(['build', '--no-cache', '--metadata-file', meta, ...extra, ctx]);
  expect(result.code, result.stderr).toBe(0);
  const doc = JSON.parse(readFileSync(meta, 'utf8'));
  return { manifest: doc['containerimage.digest'], config: doc['containerimage.config.digest'] };
}

describe('SOURCE_DATE_EPOCH', () => {
  it('gives the same image twice with rewrite-timestamp=true, and dates it at the epoch', async () => {
    const flags = ['--build-arg', `SOURCE_DATE_EPOCH=${EPOCH}`, '-o', 'type=image,rewrite-timestamp=true', '-t', 'repro:1'];
    const first = await build(flags);
    await new Promise((r) => setTimeout(r, 1100));
    const second = await build(flags);
    expect(second).toEqual(first);
    const inspect = JSON.parse((await box.berth(['inspect', 'repro:1'])).stdout)[0];
    expect(inspect.Created).toBe('2023-11-14T22:13:20Z');
  });

  it('dates the image without rewriting layers when rewrite-timestamp is not asked for', async () => {
    const flags = ['--build-arg', `SOURCE_DATE_EPOCH=${EPOCH}`, '-t', 'repro:2'];
    const first = await build(flags);
    await new Promise((r) => setTimeout(r, 1100));
    const second = await build(flags);
    // The RUN's files carry the time it ran: the layers differ, as in BuildKit without the option.
    expect(second.manifest).not.toBe(first.manifest);
    const inspect = JSON.parse((await box.berth(['inspect', 'repro:2'])).stdout)[0];
    expect(inspect.Created).toBe('2023-11-14T22:13:20Z');
  });

  it('refuses an epoch that is not whole seconds', async () => {
    const ctx = box.context({ Dockerfile: DOCKERFILE, 'f.txt': 'f\n' });
    const result = await box.berth(['build', '--build-arg', 'SOURCE_DATE_EPOCH=yesterday', ctx]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('invalid SOURCE_DATE_EPOCH "yesterday"');
  });
});
