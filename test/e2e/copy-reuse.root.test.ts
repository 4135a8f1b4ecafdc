import { chmodSync, existsSync, lstatSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync, mkdirSync, appendFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { readTar } from '../../src/layer/tar-io.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox } from './harness.ts';

// A COPY rebuilt after a small context change takes the unchanged files from its previous
// snapshot (src/copy/reuse.ts). Every rebuild here must give exactly the image a
// --no-cache build of the same context gives: the COPY layer byte for byte (same diff id), and
// the same view for the RUN after it (names, modes, owners, sizes, mtimes, link counts, content).
let sb: Sandbox;
beforeAll(async () => { sb = await makeSandbox(); }, 120_000);
afterAll(() => sb?.cleanup());

const DOCKERFILE = [
  'FROM busybox:local',
  'COPY . /app',
  'RUN cd /app && find . -mindepth 1 | sort | xargs stat -c "%n %f %u:%g %s %Y %h" > /listing.txt && find . -type f | sort | xargs md5sum > /sums.txt',
  '',
].join('\n');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function berthOk(args: string[]): Promise<string> {
  const r = await sb.berth(args);
  if (r.code !== 0) throw new Error(`berth ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

interface Built { diffIds: string[]; copyLayer: string[]; listing: string; sums: string }

/**
 * Every entry of a stored layer tar (layers are stored uncompressed) with all its header fields
 * and a hash of its body, in archive order. The copy's destination dir itself is left out: its
 * mtime is when the copy ran (as in Docker), so two builds in different seconds differ there.
 */
async function layerEntries(diffId: string): Promise<string[]> {
  const blob = path.join(sb.root, 'blobs', 'sha256', diffId.replace(/^sha256:/, ''));
  const out: string[] = [];
  for await (const { header, body } of readTar(createReadStream(blob))) {
    const hash = createHash('sha256');
    for await (const chunk of body) hash.update(chunk);
    if (header.name === 'app/' || header.name === 'srv/') continue;
    const xattrs = Object.entries(header.xattrs ?? {}).map(([k, v]) => `${k}=${v.toString('hex')}`).join(',');
    out.push([header.name, header.type, header.mode.toString(8), `${header.uid}:${header.gid}`, header.size, header.mtime, header.linkname ?? '', xattrs, hash.digest('hex')].join(' '));
  }
  return out;
}

async function inspect(tag: string): Promise<Built> {
  const doc = JSON.parse(await berthOk(['inspect', tag])) as Array<{ RootFS: { Layers: string[] } }>;
  return {
    diffIds: doc[0].RootFS.Layers,
    copyLayer: await layerEntries(doc[0].RootFS.Layers[1]),
    listing: await berthOk(['run', '--network', 'none', tag, 'cat', '/listing.txt']),
    sums: await berthOk(['run', '--network', 'none', tag, 'cat', '/sums.txt']),
  };
}

/** Builds with the cache (reusing), then with --no-cache, and checks both give the same result. */
async function rebuildMatchesNoCache(ctx: string): Promise<Built> {
  const built = await sb.berth(['build', '--progress', 'plain', '-t', 'reuse/app', ctx]);
  expect(built.code, built.stderr).toBe(0);
  // A context nobody edits during the build is never reported as changed mid-copy.
  expect(built.stderr).not.toMatch(/changed while it was copied/);
  const reused = await inspect('reuse/app');
  await berthOk(['build', '-q', '--no-cache', '-t', 'reuse/fresh', ctx]);
  const fresh = await inspect('reuse/fresh');
  expect(reused.listing).toBe(fresh.listing);
  expect(reused.sums).toBe(fresh.sums);
  // The COPY layer (after the base's) holds exactly what a fresh copy gives, in the same order.
  expect(reused.copyLayer).toEqual(fresh.copyLayer);
  return reused;
}

async function inodeOf(tag: string, file: string): Promise<string> {
  return (await berthOk(['run', '--network', 'none', tag, 'stat', '-c', '%i', file])).trim();
}

describe('COPY rebuilds reuse unchanged files from the previous snapshot', () => {
  let ctx: string;
  beforeAll(async () => {
    const files: Record<string, string> = { Dockerfile: DOCKERFILE, '.dockerignore': '*.log\n', 'top.txt': 'top\n', 'skip.log': 'log\n' };
    for (let d = 0; d < 4; d++) for (let f = 0; f < 5; f++) files[`d${d}/f${f}.txt`] = `dir ${d} file ${f}\n`;
    files['deep/x/y/z.txt'] = 'deep\n';
    files['tool.sh'] = '#!/bin/sh\necho hi\n';
    ctx = sb.context(files);
    chmodSync(path.join(ctx, 'tool.sh'), 0o755);
    symlinkSync('top.txt', path.join(ctx, 'link'));
    // Files changed within the racy window of a build are never reused: let these age first.
    await sleep(2200);
    await rebuildMatchesNoCache(ctx);
  }, 120_000);

  it('moves unchanged files (same inode) and copies the changed one', async () => {
    // The last build (--no-cache) made the step's newest snapshot: the image built from it.
    await berthOk(['build', '-q', '-t', 'reuse/app', ctx]);
    const before = await inodeOf('reuse/app', '/app/d1/f1.txt');
    appendFileSync(path.join(ctx, 'd2/f3.txt'), 'more\n');
    await rebuildMatchesNoCache(ctx);
    expect(await inodeOf('reuse/app', '/app/d1/f1.txt')).toBe(before);
    expect(await berthOk(['run', '--network', 'none', 'reuse/app', 'cat', '/app/d2/f3.txt'])).toBe('dir 2 file 3\nmore\n');
  }, 120_000);

  it('sees a mode change, a touched file and a touched directory', async () => {
    chmodSync(path.join(ctx, 'd0/f0.txt'), 0o600);
    const when = new Date('2020-01-02T03:04:05Z');
    utimesSync(path.join(ctx, 'd1/f2.txt'), when, when);
    utimesSync(path.join(ctx, 'd3'), when, when);
    await rebuildMatchesNoCache(ctx);
  }, 120_000);

  it('sees deleted, added and renamed files and directories', async () => {
    unlinkSync(path.join(ctx, 'd0/f1.txt'));
    writeFileSync(path.join(ctx, 'd1/new.txt'), 'new\n');
    mkdirSync(path.join(ctx, 'd9'));
    writeFileSync(path.join(ctx, 'd9/n.txt'), 'nine\n');
    renameSync(path.join(ctx, 'd2/f0.txt'), path.join(ctx, 'd2/g0.txt'));
    rmSync(path.join(ctx, 'deep/x/y'), { recursive: true });
    await rebuildMatchesNoCache(ctx);
  }, 120_000);

  it('sees a file turned into a symlink, a changed link target and a new ignore rule', async () => {
    unlinkSync(path.join(ctx, 'd3/f4.txt'));
    symlinkSync('../top.txt', path.join(ctx, 'd3/f4.txt'));
    unlinkSync(path.join(ctx, 'link'));
    symlinkSync('tool.sh', path.join(ctx, 'link'));
    writeFileSync(path.join(ctx, '.dockerignore'), '*.log\nd1\n');
    await rebuildMatchesNoCache(ctx);
  }, 120_000);

  it('gives back an earlier result whose snapshot was taken as a donor (unpacked again from its blob)', async () => {
    writeFileSync(path.join(ctx, 'top.txt'), 'version A\n');
    const a = await rebuildMatchesNoCache(ctx);
    writeFileSync(path.join(ctx, 'top.txt'), 'version B\n');
    await rebuildMatchesNoCache(ctx);
    writeFileSync(path.join(ctx, 'top.txt'), 'version A\n');
    const r = await sb.berth(['build', '--progress', 'plain', '-t', 'reuse/app', ctx]);
    expect(r.code, r.stderr).toBe(0);
    // Same content as A: the COPY is a cache hit on A's record although B took its snapshot.
    expect(r.stderr).toMatch(/COPY \. \/app[^\n]*\n(?:[^\n]*\n)?[^\n]*CACHED/);
    const again = await inspect('reuse/app');
    expect(again.copyLayer).toEqual(a.copyLayer);
    expect(again.sums).toBe(a.sums);
  }, 120_000);

  it('never takes a snapshot a running container uses', async () => {
    writeFileSync(path.join(ctx, 'top.txt'), 'before the run\n');
    await berthOk(['build', '-q', '-t', 'reuse/app', ctx]);
    await sleep(2200);
    // The container lists /app twice, a second apart; a rebuild runs in between.
    const child = sb.spawnBerth(['run', '--network', 'none', 'reuse/app', 'sh', '-c', 'md5sum /app/d0/f0.txt; sleep 3; md5sum /app/d0/f0.txt; cat /app/top.txt']);
    let out = '';
    child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
    await sleep(1000);
    writeFileSync(path.join(ctx, 'top.txt'), 'after the run\n');
    await rebuildMatchesNoCache(ctx);
    expect(await exited).toBe(0);
    const lines = out.trim().split('\n');
    expect(lines[0]).toBe(lines[1]);
    expect(lines[2]).toBe('before the run');
  }, 120_000);

  it('does not remember a COPY whose context was edited while it was copied', async () => {
    const grow = path.join(ctx, 'grow.txt');
    writeFileSync(grow, '');
    const writer = spawn('sh', ['-c', `while :; do echo x >> '${grow}'; done`], { stdio: 'ignore' });
    try {
      const r = await sb.berth(['build', '--progress', 'plain', '-t', 'reuse/app', ctx]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/changed while it was copied: this step is not cached/);
    } finally {
      writer.kill('SIGKILL');
    }
    rmSync(grow);
    await rebuildMatchesNoCache(ctx);
  }, 120_000);

  it('never takes a snapshot that was unpacked again from its blob (whole-second times, no user xattrs)', async () => {
    await berthOk(['build', '-q', '-t', 'reuse/app', ctx]);
    const [base, copy] = (JSON.parse(await berthOk(['inspect', 'reuse/app'])) as Array<{ RootFS: { Layers: string[] } }>)[0].RootFS.Layers;
    const chain = createHash('sha256').update(`${base} ${copy}`).digest('hex');
    rmSync(path.join(sb.root, 'snapshots', chain), { recursive: true });
    // Cached, so the COPY's snapshot is unpacked again from its blob.
    await berthOk(['build', '-q', '-t', 'reuse/app', ctx]);
    const unpacked = await inodeOf('reuse/app', '/app/d0/f0.txt');
    writeFileSync(path.join(ctx, 'top.txt'), 'after the unpack\n');
    await rebuildMatchesNoCache(ctx);
    expect(await inodeOf('reuse/app', '/app/d0/f0.txt')).not.toBe(unpacked);
  }, 120_000);

  it('prune drops lineage records whose snapshots are gone', async () => {
    await berthOk(['prune', '--all']);
    const dir = path.join(sb.root, 'lineage');
    const left = existsSync(dir) ? readdirSync(dir) : [];
    for (const name of left) {
      const record = JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as { chainId: string };
      expect(existsSync(path.join(sb.root, 'snapshots', record.chainId.replace(/^sha256:/, '')))).toBe(true);
    }
    await rebuildMatchesNoCache(ctx);
  }, 120_000);
});

describe('COPY rebuilds into a directory an earlier step made (WORKDIR, then COPY . .)', () => {
  let ctx: string;
  const dockerfile = [
    'FROM busybox:local',
    'WORKDIR /srv',
    'COPY . .',
    'RUN find . -mindepth 1 | sort | xargs stat -c "%n %f %u:%g %s %Y %h" > /listing.txt && find . -type f | sort | xargs md5sum > /sums.txt',
    '',
  ].join('\n');
  beforeAll(async () => {
    const files: Record<string, string> = { Dockerfile: dockerfile, 'top.txt': 'top\n' };
    for (let d = 0; d < 3; d++) for (let f = 0; f < 4; f++) files[`d${d}/f${f}.txt`] = `dir ${d} file ${f}\n`;
    ctx = sb.context(files);
    await sleep(2200);
    await rebuildMatchesNoCache(ctx);
    await berthOk(['build', '-q', '-t', 'reuse/app', ctx]);
  }, 120_000);

  it('moves unchanged directories and files in, and gives what --no-cache gives', async () => {
    const dirFile = await inodeOf('reuse/app', '/srv/d1/f1.txt');
    const topFile = await inodeOf('reuse/app', '/srv/top.txt');
    appendFileSync(path.join(ctx, 'd0/f2.txt'), 'more\n');
    writeFileSync(path.join(ctx, 'new.txt'), 'new\n');
    unlinkSync(path.join(ctx, 'd2/f0.txt'));
    await rebuildMatchesNoCache(ctx);
    expect(await inodeOf('reuse/app', '/srv/d1/f1.txt')).toBe(dirFile);
    expect(await inodeOf('reuse/app', '/srv/top.txt')).toBe(topFile);
  }, 120_000);
});

describe('a donor symlink where the source now has a directory', () => {
  it('is neither taken for the directory nor followed off the store', async () => {
    const host = path.join(sb.dir, 'host-dir');
    mkdirSync(host, { mode: 0o755 });
    chmodSync(host, 0o755);
    const ctx = sb.context({
      Dockerfile: [
        'FROM busybox:local',
        'COPY app/ extra/ /app/',
        'RUN cd /app && find . -mindepth 1 | sort | xargs stat -c "%n %f %u:%g %s %Y %h" > /listing.txt && find . -type f | sort | xargs md5sum > /sums.txt',
        '',
      ].join('\n'),
      'app/f': 'f\n', 'extra/g': 'g\n',
    });
    symlinkSync(host, path.join(ctx, 'app/a'));
    await sleep(2200);
    await berthOk(['build', '-q', '-t', 'reuse/app', ctx]);
    // Now a directory where the donor has the symlink, and a file to go below it.
    unlinkSync(path.join(ctx, 'app/a'));
    mkdirSync(path.join(ctx, 'app/a'));
    chmodSync(path.join(ctx, 'app/a'), 0o700);
    mkdirSync(path.join(ctx, 'extra/a'));
    writeFileSync(path.join(ctx, 'extra/a/below'), 'below\n');
    await rebuildMatchesNoCache(ctx);
    expect(lstatSync(host).mode & 0o7777).toBe(0o755);
    expect(readdirSync(host)).toEqual([]);
  }, 120_000);
});
