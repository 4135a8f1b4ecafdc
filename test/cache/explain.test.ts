import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { explainMiss, rememberFacts, slotOf, type StepFacts } from '../../src/cache/explain.ts';

let dir: string;
beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'berth-explain-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const slot = slotOf({ dockerfile: 'Dockerfile', contextDir: '/ctx', stage: '0', step: 2 });
const BASE: StepFacts = {
  text: 'COPY . /src', base: 'busybox:local@sha256:aa', parentKey: 'sha256:p', options: '{}',
  env: ['PATH=/bin', 'V=1'],
  files: { a: 'file 644 0:0 sha256:1', b: 'file 644 0:0 sha256:2', l: 'link 777 0:0 a', d: 'dir 755 0:0 ' },
};

async function explain(after: Partial<StepFacts>): Promise<string[]> {
  await rememberFacts(dir, slot, 'sha256:k1', BASE);
  return explainMiss(dir, slot, { ...BASE, ...after });
}

describe('why a step missed the cache', () => {
  it('says so when there is no earlier record, and when nothing it records changed', async () => {
    expect(explainMiss(dir, slot, BASE)).toEqual(['no earlier record of this step']);
    expect(await explain({})).toEqual(['what it reads changed (a stage or image it copies or mounts from)']);
  });

  it('names a changed instruction', async () => {
    expect(await explain({ text: 'COPY . /app' })).toContain('the instruction changed (was: COPY . /src)');
  });

  it('names the base image before an earlier step', async () => {
    expect(await explain({ base: 'busybox:local@sha256:bb', parentKey: 'sha256:q' })).toEqual(['the base image changed: busybox:local@sha256:aa -> busybox:local@sha256:bb']);
    expect(await explain({ parentKey: 'sha256:q' })).toEqual(['an earlier step of this stage (or a stage it uses) changed']);
  });

  it('names build args and env values that changed, appeared or went', async () => {
    expect(await explain({ env: ['PATH=/bin', 'V=2', 'NEW=x'] })).toEqual(['build arg or env V changed: "1" -> "2"', 'build arg or env NEW is new ("x")']);
    expect(await explain({ env: ['PATH=/bin'] })).toEqual(['build arg or env V is gone']);
  });

  it('names the files of a COPY: added, removed, content, mode, owner, link target, type', async () => {
    const files = {
      a: 'file 600 0:0 sha256:1', b: 'file 644 1000:1000 sha256:9', l: 'link 777 0:0 b', d: 'file 644 0:0 sha256:3', n: 'file 644 0:0 sha256:4',
    };
    expect(await explain({ files })).toEqual([
      'file a: mode 644 -> 600', 'file b: content, owner 0:0 -> 1000:1000', 'file l: link target', 'file d: type dir -> file, mode 755 -> 644', 'file n added',
    ]);
    expect(await explain({ files: { a: BASE.files!.a } })).toEqual(['file b removed', 'file l removed', 'file d removed']);
  });

  it('shows ten files and counts the rest', async () => {
    const files = { ...BASE.files, ...Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`new${i}`, 'file 644 0:0 x'])) };
    const reasons = await explain({ files });
    expect(reasons).toHaveLength(11);
    expect(reasons.at(-1)).toBe('and 5 more files');
  });

  it('falls back to the step\'s options', async () => {
    expect(await explain({ options: '{"network":"none"}' })).toEqual(['its options changed (mounts, flags, user, workdir or network)']);
  });

  it('keeps one slot per Dockerfile, context, stage and step', () => {
    expect(slotOf({ dockerfile: 'Dockerfile', contextDir: '/ctx', stage: '0', step: 3 })).not.toBe(slot);
    expect(slotOf({ dockerfile: 'Dockerfile', contextDir: '/other', stage: '0', step: 2 })).not.toBe(slot);
  });
});
