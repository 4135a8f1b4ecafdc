import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lchownSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox } from './harness.ts';

// Cache correctness: every kind of context change is seen, only the step reading it and the
// steps after it rebuild, and a rebuild
// equals a --no-cache build of the same input.
let sb: Sandbox;
beforeAll(async () => { sb = await makeSandbox(); }, 120_000);
afterAll(() => sb?.cleanup());

const DOCKERFILE = [
  'FROM busybox:local',
  'ARG USED=one',
  'RUN echo "arg $USED" > /arg.txt',
  'COPY app/ /app/',
  'RUN ls -ln /app > /listing.txt && cat /app/* > /all.txt 2>/dev/null; true',
  'COPY other.txt /other.txt',
  '',
].join('\n');

/** Which steps (by instruction text) were CACHED in a build, from rawjson progress. */
async function build(ctx: string, extra: string[] = [], tag = 'cache/test'): Promise<Map<string, boolean>> {
  const result = await sb.berth(['build', '--progress', 'rawjson', '-t', tag, ...extra, ctx]);
  if (result.code !== 0) throw new Error(result.stderr);
  const cached = new Map<string, boolean>();
  // BuildKit's SolveStatus, one object a line: a vertex is reported when it starts and ends.
  for (const line of result.stderr.split('\n')) {
    if (line === '') continue;
    const status = JSON.parse(line) as { vertexes?: Array<{ name: string; cached?: boolean }> };
    for (const vertex of status.vertexes ?? []) {
      if (!/^\[[^\]]*\] (RUN|COPY|ADD|WORKDIR) /.test(vertex.name)) continue;
      const name = vertex.name.replace(/^\[[^\]]*\] /, '');
      cached.set(name, vertex.cached === true || cached.get(name) === true);
    }
  }
  return cached;
}

function rebuilt(steps: Map<string, boolean>): string[] {
  return [...steps].filter(([, c]) => !c).map(([name]) => name.split(' ').slice(0, 2).join(' '));
}

/** A comparable listing of an exported root file system (no times). */
function tree(dir: string): string[] {
  const out: string[] = [];
  const visit = (rel: string): void => {
    for (const name of readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const s = lstatSync(path.join(dir, r));
      const what = s.isSymbolicLink() ? `-> ${readlinkSync(path.join(dir, r))}` : s.isFile() ? createHash('sha256').update(readFileSync(path.join(dir, r))).digest('hex') : 'dir';
      out.push(`${r} ${s.mode.toString(8)} ${s.uid}:${s.gid} ${what}`);
      if (s.isDirectory()) visit(r);
    }
  };
  visit('');
  return out;
}

async function exported(ctx: string, extra: string[] = []): Promise<string[]> {
  const dest = path.join(sb.dir, `export-${Math.random().toString(16).slice(2)}`);
  const r = await sb.berth(['build', '-q', '-o', `type=local,dest=${dest}`, ...extra, ctx]);
  if (r.code !== 0) throw new Error(r.stderr);
  const listing = tree(dest);
  rmSync(dest, { recursive: true, force: true });
  return listing;
}

describe('cache invalidation', () => {
  let ctx: string;
  beforeAll(async () => {
    ctx = sb.context({ Dockerfile: DOCKERFILE, 'app/a.txt': 'alpha\n', 'app/b.txt': 'bravo\n', 'other.txt': 'other\n', '.dockerignore': 'app/ignored*\n' });
    await build(ctx);
  });

  const checks: Array<[string, () => void, string[]]> = [
    ['nothing changed', () => undefined, []],
    // A parsed Dockerfile is remembered by its text (src/store/parse-cache.ts): an edit is seen,
    // and so is the edit undone.
    ['an edited step in the Dockerfile', () => writeFileSync(path.join(ctx, 'Dockerfile'), DOCKERFILE.replace('cat /app/*', 'cat  /app/*')), ['RUN ls', 'COPY other.txt']],
    ['the Dockerfile edit undone', () => writeFileSync(path.join(ctx, 'Dockerfile'), DOCKERFILE), []],
    ['a touched file (mtime only)', () => { const t = new Date(Date.now() - 3600_000); utimesSync(path.join(ctx, 'app/a.txt'), t, t); }, []],
    ['a changed byte', () => writeFileSync(path.join(ctx, 'app/a.txt'), 'alphA\n'), ['COPY app/', 'RUN ls', 'COPY other.txt']],
    ['a same-size same-mtime edit', () => {
      const file = path.join(ctx, 'app/b.txt');
      const before = statSync(file);
      writeFileSync(file, 'BRAVO\n');
      utimesSync(file, before.atime, before.mtime);
    }, ['COPY app/', 'RUN ls', 'COPY other.txt']],
    ['a mode change', () => chmodSync(path.join(ctx, 'app/a.txt'), 0o600), ['COPY app/', 'RUN ls', 'COPY other.txt']],
    ['an owner change', () => lchownSync(path.join(ctx, 'app/a.txt'), 1234, 1234), ['COPY app/', 'RUN ls', 'COPY other.txt']],
    ['an added file', () => writeFileSync(path.join(ctx, 'app/c.txt'), 'charlie\n'), ['COPY app/', 'RUN ls', 'COPY other.txt']],
    ['an added symlink', () => symlinkSync('a.txt', path.join(ctx, 'app/link')), ['COPY app/', 'RUN ls', 'COPY other.txt']],
    ['a changed symlink target', () => { rmSync(path.join(ctx, 'app/link')); symlinkSync('b.txt', path.join(ctx, 'app/link')); }, ['COPY app/', 'RUN ls', 'COPY other.txt']],
    ['a removed file', () => rmSync(path.join(ctx, 'app/c.txt')), ['COPY app/', 'RUN ls', 'COPY other.txt']],
    ['an ignored file added', () => writeFileSync(path.join(ctx, 'app/ignored.txt'), 'x\n'), []],
    ['the ignore file changed to include it', () => writeFileSync(path.join(ctx, '.dockerignore'), 'nothing-here\n'), ['COPY app/', 'RUN ls', 'COPY other.txt']],
    ['a file only a later step reads', () => writeFileSync(path.join(ctx, 'other.txt'), 'changed\n'), ['COPY other.txt']],
  ];

  for (const [what, change, expected] of checks) {
    it(`rebuilds exactly what reads ${what}`, async () => {
      change();
      expect(rebuilt(await build(ctx))).toEqual(expected);
    });
  }

  it('ignores a build arg no step uses, and rebuilds from the step that uses one', async () => {
    expect(rebuilt(await build(ctx, ['--build-arg', 'UNUSED=x']))).toEqual([]);
    expect(rebuilt(await build(ctx, ['--build-arg', 'USED=two']))).toEqual(['RUN echo', 'COPY app/', 'RUN ls', 'COPY other.txt']);
  });

  it('gives the same files as a --no-cache build of the same input', async () => {
    const cachedTree = await exported(ctx);
    const fresh = await exported(ctx, ['--no-cache']);
    expect(cachedTree).toEqual(fresh);
    expect(cachedTree.some((l) => l.startsWith('app/a.txt 100600 1234:1234'))).toBe(false);
    expect(cachedTree.some((l) => l.startsWith('app/a.txt 100600 0:0'))).toBe(true);
  });

  it('rebuilds a stage named in --no-cache-filter and nothing before it', async () => {
    const steps = await build(ctx, ['--no-cache-filter', '0']);
    expect([...steps.values()].every((c) => !c)).toBe(true);
  });

  it('never stacks a remembered layer on a parent that was rebuilt differently', async () => {
    const twoStage = sb.context({
      Dockerfile: 'FROM busybox:local AS a\nRUN cat /proc/sys/kernel/random/uuid > /d\nFROM a\nRUN cp /d /e\n',
    });
    await build(twoStage, [], 'cache/stale');
    await build(twoStage, ['--no-cache-filter', 'a'], 'cache/stale');
    const both = await sb.berth(['run', '--rm', 'cache/stale', 'sh', '-c', 'cat /d /e']);
    const [d, e] = both.stdout.trim().split('\n');
    expect(d).toBe(e);
  });

  it('keys proxy variables set by ENV like any other variable', async () => {
    const dockerfile = (value: string) => sb.context({ Dockerfile: `FROM busybox:local\nENV HTTP_PROXY=${value}\nRUN echo $HTTP_PROXY > /p\n` });
    await build(dockerfile('a'), [], 'cache/proxy');
    expect(rebuilt(await build(dockerfile('b'), [], 'cache/proxy'))).toEqual(['RUN echo']);
    expect((await sb.berth(['run', '--rm', 'cache/proxy', 'cat', '/p'])).stdout).toBe('b\n');
    // A proxy given only with --build-arg reaches RUN but not the key (Docker's rule).
    expect(rebuilt(await build(dockerfile('b'), ['--build-arg', 'http_proxy=http://elsewhere'], 'cache/proxy'))).toEqual([]);
  });

  it('sees a changed file capability (COPY carries security.capability)', async () => {
    const ctx2 = sb.context({ Dockerfile: 'FROM busybox:local\nCOPY tool /tool\n', tool: 'x' });
    const tool = path.join(ctx2, 'tool');
    execFileSync('setcap', ['cap_net_raw+ep', tool]);
    await build(ctx2, [], 'cache/caps');
    execFileSync('setcap', ['cap_net_admin+ep', tool]);
    expect(rebuilt(await build(ctx2, [], 'cache/caps'))).toEqual(['COPY tool']);
  });
});

// Last in this file: it prunes the store the tests above share.
describe('berth du and berth prune', () => {
  const du = async (): Promise<Record<string, number>> => {
    const out = (await sb.berth(['du'])).stdout.trim().split('\n').slice(1);
    return Object.fromEntries(out.map((line) => [line.slice(0, 15).trim(), Number(line.slice(15, 23).trim())]));
  };

  it('shows what builds left, and prune removes only what no image needs until --all', async () => {
    const ctx = sb.context({
      Dockerfile: 'FROM busybox:local AS builder\nRUN echo built > /out && echo scratch > /junk\nFROM busybox:local\nCOPY --from=builder /out /out\nCOPY a.txt /a.txt\n',
      'a.txt': 'first\n',
    });
    await build(ctx, [], 'du/app');
    const before = await du();
    expect(before['cache entries']).toBeGreaterThan(0);
    expect(before.snapshots).toBeGreaterThan(0);
    expect(before.metadata).toBeGreaterThan(0);

    // The builder stage's layer is in no image: prune takes it and keeps what the image uses.
    expect((await sb.berth(['prune'])).code).toBe(0);
    const pruned = await du();
    expect(pruned.blobs).toBeLessThan(before.blobs);
    expect(pruned['cache entries']).toBeGreaterThan(0);
    expect(rebuilt(await build(ctx, [], 'du/app'))).toEqual(['RUN echo']);
    const rebuiltUsage = await du();

    const pruneAll = await sb.berth(['prune', '--all']);
    expect(pruneAll.code, pruneAll.stderr).toBe(0);
    const all = await du();
    expect(all['cache entries']).toBe(0);
    // Only the snapshots of stored images' layers stay unpacked.
    expect(all.snapshots).toBeLessThan(rebuiltUsage.snapshots);
    // (Run from the TypeScript sources, as while a snapshot is stale, berth never made it at all.)
    const parseCache = path.join(sb.root, 'parse-cache');
    expect(existsSync(parseCache) ? readdirSync(parseCache) : []).toEqual([]);
    expect(all.images).toBe(before.images);
    // What images need stays: the image still runs (its layers unpacked again from the blobs).
    expect((await sb.berth(['run', '--rm', 'du/app', 'cat', '/out', '/a.txt'])).stdout).toBe('built\nfirst\n');
  });
});
