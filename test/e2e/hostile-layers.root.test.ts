import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportImage } from '../../src/cli/outputs.ts';
import { writeImage, type WrittenImage } from '../../src/image/commit.ts';
import { newImageConfig, withLayer } from '../../src/image/config.ts';
import { saveDockerArchive } from '../../src/image/archive-save.ts';
import { storeLayer } from '../../src/layer/store.ts';
import { closeRegistryConnections, pushImage, type RegistryStores } from '../../src/registry/index.ts';
import { ESCAPED, HOSTILE, file, listOutside, plantCanaries, tarOf, type HostileCase } from '../layer/hostile-tars.ts';
import { makeStores, startRegistry, type TestRegistry } from '../registry/helpers.ts';
import { BERTH, makeSandbox, type CliResult, type Sandbox } from './harness.ts';

// Issue 11, points 4 and 5: a crafted layer reaching the host through load, pull, import,
// snapshot unpack and the local/tar exports; a build making a layer whose file reads as a
// whiteout. Each path must refuse the layer, name it and its member, and touch nothing outside.

let sb: Sandbox;
let registry: TestRegistry;
let stores = 0;

beforeAll(async () => {
  [sb, registry] = await Promise.all([makeSandbox(), startRegistry()]);
}, 120_000);
afterAll(async () => {
  closeRegistryConnections();
  await registry?.stop();
  sb?.cleanup();
});

function berthAt(root: string, args: string[], cwd = sb.dir): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(BERTH, args, { env: { ...process.env, BERTH_ROOT: root, NO_COLOR: '1' }, cwd }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** A fresh store under the sandbox, with canaries beside the directory layers unpack into. */
async function freshStore(): Promise<{ root: string; stores: RegistryStores; tmp: string }> {
  const root = path.join(sb.dir, `store-${stores++}`);
  const made = await makeStores(root);
  // <root>/tmp holds every unpack's temp dir: `.wh...` in a layer used to remove it whole.
  plantCanaries(made.layout.tmp, 'unused');
  return { root, stores: made, tmp: made.layout.tmp };
}

async function hostileImage(into: RegistryStores, hostile: HostileCase, name: string): Promise<{ image: WrittenImage; layer: string }> {
  const layer = await storeLayer(into.content, Readable.from([await tarOf(hostile.entries)]), { compression: 'gzip' });
  const config = withLayer(newImageConfig({ created: '2024-01-02T03:04:05Z', config: { Cmd: ['true'] } }), layer.diffId, { created_by: hostile.name });
  return { image: await writeImage(into.images, config, [layer], { names: [name] }), layer: layer.digest };
}

/** Paths named ESCAPED anywhere under the sandbox or at `/`. */
function escapees(): string[] {
  const found: string[] = [];
  const visit = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const child = path.join(dir, entry.name);
      if (entry.name === ESCAPED) found.push(child);
      if (entry.isDirectory()) visit(child);
    }
  };
  visit(sb.dir);
  // `../../..` from a destination two levels down the sandbox reaches the sandbox's parent.
  for (const dir of ['/', path.dirname(sb.dir)]) if (existsSync(path.join(dir, ESCAPED))) found.push(path.join(dir, ESCAPED));
  return found;
}

/** The store is untouched where the layer could reach: its temp dir, its snapshots, the canaries. */
function expectContained(target: { root: string; tmp: string }, before: string[]): void {
  expect(listOutside(target.tmp, [path.join(target.tmp, 'unused')])).toEqual(before);
  expect(readFileSync(path.join(target.tmp, 'canary'), 'utf8')).toBe('precious');
  expect(readdirSync(path.join(target.root, 'snapshots')).filter((n) => /^[0-9a-f]{64}$/.test(n))).toEqual([]);
  expect(escapees()).toEqual([]);
}

function expectRefused(result: CliResult, hostile: HostileCase, layer: string): void {
  expect(result.code, result.stdout).not.toBe(0);
  expect(result.stderr).toContain(layer);
  expect(result.stderr).toContain(JSON.stringify(hostile.member));
}

const cases = HOSTILE.map((c) => [c.name, c] as const);

describe('a hostile layer is refused, and nothing outside its destination touched, by', () => {
  it.each(cases)('berth load: %s', async (_, hostile) => {
    const source = await freshStore();
    const { layer } = await hostileImage(source.stores, hostile, 'hostile/load:v1');
    const archive = path.join(sb.dir, `load-${stores}.tar`);
    await saveDockerArchive(source.stores.images, ['hostile/load:v1'], archive);
    const target = await freshStore();
    const before = listOutside(target.tmp, [path.join(target.tmp, 'unused')]);
    expectRefused(await berthAt(target.root, ['load', '-i', archive]), hostile, layer);
    expectContained(target, before);
  });

  it.each(cases)('berth pull: %s', async (_, hostile) => {
    const source = await freshStore();
    const ref = `${registry.host}/hostile/pull${stores}:v1`;
    const { layer } = await hostileImage(source.stores, hostile, ref);
    await pushImage(source.stores, ref);
    const target = await freshStore();
    const before = listOutside(target.tmp, [path.join(target.tmp, 'unused')]);
    expectRefused(await berthAt(target.root, ['pull', ref]), hostile, layer);
    expectContained(target, before);
  });

  it.each(cases)('snapshot unpack (berth run of an image whose snapshots are gone): %s', async (_, hostile) => {
    const target = await freshStore();
    const { layer } = await hostileImage(target.stores, hostile, 'hostile/run:v1');
    const before = listOutside(target.tmp, [path.join(target.tmp, 'unused')]);
    expectRefused(await berthAt(target.root, ['run', '--rm', 'hostile/run:v1', 'true']), hostile, layer);
    expectContained(target, before);
  });

  it.each(cases)('berth import: %s', async (_, hostile) => {
    const target = await freshStore();
    const tarball = path.join(sb.dir, `import-${stores}.tar`);
    writeFileSync(tarball, await tarOf(hostile.entries));
    const before = listOutside(target.tmp, [path.join(target.tmp, 'unused')]);
    const result = await berthAt(target.root, ['import', tarball, 'hostile/import:v1']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(JSON.stringify(hostile.member));
    expectContained(target, before);
  });

  it.each(cases)('-o type=local and type=tar: %s', async (_, hostile) => {
    const target = await freshStore();
    const { image, layer } = await hostileImage(target.stores, hostile, 'hostile/export:v1');
    for (const type of ['local', 'tar'] as const) {
      const box = path.join(sb.dir, `export-${stores}-${type}`);
      mkdirSync(box);
      plantCanaries(box, 'unused');
      const dest = path.join(box, 'out');
      const before = listOutside(box, [dest]);
      const tmpBefore = listOutside(target.tmp, [path.join(target.tmp, 'unused')]);
      const exported = exportImage(target.stores, image.descriptor.digest, [], { type, dest });
      await expect(exported).rejects.toThrow(layer);
      await expect(exported).rejects.toThrow(JSON.stringify(hostile.member));
      expect(listOutside(box, [dest])).toEqual(before);
      expect(listOutside(target.tmp, [path.join(target.tmp, 'unused')]).filter((l) => !l.startsWith('export-'))).toEqual(tmpBefore);
      expect(escapees()).toEqual([]);
    }
  });
});

describe('a build never makes a layer with a file named like a whiteout', () => {
  it('RUN touch /.wh... with -o type=local: refused at the step; the export dir\'s parent survives', async () => {
    const v = path.join(sb.dir, 'v');
    mkdirSync(v);
    writeFileSync(path.join(v, 'canary'), 'precious');
    const ctx = sb.context({ Dockerfile: 'FROM busybox:local\nRUN touch /.wh...\n' });
    const built = await sb.berth(['build', '-o', `type=local,dest=${path.join(v, 'out')}`, ctx]);
    expect(built.code).not.toBe(0);
    expect(built.stderr).toContain('/.wh...');
    expect(built.stderr).toContain('reserved for whiteouts');
    expect(built.stderr).toMatch(/Dockerfile:2/);
    expect(readFileSync(path.join(v, 'canary'), 'utf8')).toBe('precious');
  });

  it.each([
    ['RUN touch /.wh.foo', 'RUN touch /.wh.foo', '/.wh.foo'],
    ['RUN in a subdirectory', 'RUN mkdir -p /d && touch /d/.wh.bin', '/d/.wh.bin'],
    ['COPY from the context', 'COPY .wh.bin /', '/.wh.bin'],
    ['COPY of a directory holding one', 'COPY dir /dir', '/dir/.wh.x'],
  ])('%s: refused at the step, naming the path', async (_, step, named) => {
    const ctx = sb.context({ Dockerfile: `FROM busybox:local\n${step}\n`, '.wh.bin': 'x', 'dir/.wh.x': 'x' });
    const built = await sb.berth(['build', '-t', 'e2e/whiteout-name', ctx]);
    expect(built.code).not.toBe(0);
    expect(built.stderr).toContain(named);
    expect(built.stderr).toMatch(/Dockerfile:2/);
  });

  it('ADD of a local tar whose regular member is .wh.bin: refused at the step (the image would lose /bin once loaded)', async () => {
    const ctx = sb.context({ Dockerfile: 'FROM busybox:local\nADD evil.tar /\nRUN test -d /bin\n' });
    writeFileSync(path.join(ctx, 'evil.tar'), await tarOf([file('.wh.bin', 'not a whiteout')]));
    const built = await sb.berth(['build', '-t', 'e2e/evil-add', ctx]);
    expect(built.code).not.toBe(0);
    expect(built.stderr).toContain('.wh.bin');
    expect(built.stderr).toMatch(/Dockerfile:2/);
  });
});
