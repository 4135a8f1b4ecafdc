import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { applyTar, LayerMemberError, type ApplyMode } from '../../src/layer/index.ts';
import { encodeHeader, END_OF_ARCHIVE, padding, type TarHeader } from '../../src/layer/tar-format.ts';

// Needs root: overlay whiteouts are char 0:0 devices, members carry owners (issue 11, point 4).
//
// Seeded generated layer tars, hostile names (`..`, absolute, `.wh.*`, long, odd bytes),
// symlinks in and out, hard links, whiteouts and opaque markers, applied in both modes into a
// destination four levels below a tree of canaries. After every tar: nothing outside the
// destination was created, removed or changed (type, mode, owner, size, link count, mtime,
// link target), and every refusal is a LayerMemberError naming its member.

const TARS = Number(process.env.BERTH_FUZZ_TARS ?? 100_000);
const SEED = Number(process.env.BERTH_FUZZ_SEED ?? 0x5eed11);
/** Tars applied one after another into the same destination before it is made afresh. */
const BATCH = 8;

/** mulberry32: small, fast, and the same sequence for a seed everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = prng(SEED);
const below = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[below(items.length)];

/**
 * On tmpfs where there is one: the applier's logic is under test, not the disk, and a loaded
 * ext4 triples the run time. tmpfs has what the test needs (mknod, chown, trusted.* xattrs).
 */
const TMPFS_MAGIC = 0x01021994;
function onTmpfs(dir: string): boolean {
  try {
    return statfsSync(dir).type === TMPFS_MAGIC;
  } catch {
    return false;
  }
}
const base = process.env.BERTH_FUZZ_DIR ?? (onTmpfs('/dev/shm') ? '/dev/shm' : tmpdir());
const root = mkdtempSync(path.join(base, 'berth-fuzz-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Every generated plain name starts with `fz`, so one turning up in `/` or the tmp dir is ours. */
const PLAIN = ['fz', 'fza', 'fzb', 'fzl', 'fzd'];
const COMPONENTS = [
  ...PLAIN, ...PLAIN, '..', '..', '.', '', 'canary', 'canary-dir', 'inner', 'canary-link', 'dest',
  '.wh.', '.wh..', '.wh...', '.wh.fz', '.wh.fza', '.wh.fzl', '.wh.canary', '.wh.canary-dir', '.wh.dest', '.wh.inner',
  '.wh..wh..opq', '.wh..wh.fz', '.wh....', '.wh./', '.wh.fz/..',
];

function oddComponent(): string {
  const length = 1 + below(12);
  let out = 'fz';
  for (let i = 0; i < length; i++) {
    const kind = below(4);
    // NUL-free: control bytes, ASCII punctuation, Latin-1 and astral code points.
    const code = kind === 0 ? 1 + below(31) : kind === 1 ? pick([0x20, 0x2a, 0x3f, 0x5c, 0x7f, 0x2e, 0x2f]) : kind === 2 ? 0x80 + below(0x780) : 0x1f300 + below(0x200);
    out += String.fromCodePoint(code);
  }
  return out;
}

function component(): string {
  const roll = below(40);
  if (roll === 0) return oddComponent();
  if (roll === 1) return `fz${'x'.repeat(100 + below(200))}`; // Long: pax names; past 255, ENAMETOOLONG.
  return pick(COMPONENTS);
}

function memberName(): string {
  const depth = below(60) === 0 ? 6 + below(30) : 1 + below(3);
  // Mostly plain names, so that a tar gets past its first member often enough to matter.
  const parts = Array.from({ length: depth }, () => (below(3) === 0 ? component() : pick(PLAIN)));
  const lead = pick(['', '', '', '', '', '', '/', './', '../', '//']);
  const trail = below(6) === 0 ? '/' : '';
  return `${lead}${parts.join('/')}${trail}`;
}

function linkTarget(sandbox: string): string {
  const roll = below(3);
  if (roll === 0) return memberName();
  if (roll === 1) return pick(PLAIN);
  return pick([
    '/', '..', '../..', '../../..', '../../../..', '../../../../..', '../../../../../../../..', '.', '',
    '../canary', '../canary-dir', '../../canary', '/canary', 'fz/../../..', '/fz/../..', 'fzl/fzl', 'canary-link',
    sandbox, `${sandbox}/canary-dir`, path.dirname(sandbox), '/tmp', root,
  ]);
}

function header(name: string, type: TarHeader['type'], extra: Partial<TarHeader> = {}): TarHeader {
  return { name, type, mode: pick([0o644, 0o755, 0o4755, 0o000, 0o777]), uid: pick([0, 0, 1000, 65534]), gid: pick([0, 0, 50]), size: 0, mtime: 1_600_000_000 + below(1000), ...extra };
}

/** One tar of 1-4 members; bodies are tiny. */
function generateTar(sandbox: string): Buffer {
  const parts: Buffer[] = [];
  const count = 1 + below(4);
  for (let i = 0; i < count; i++) {
    const roll = below(100);
    let h: TarHeader;
    let body: Buffer | undefined;
    if (roll < 32) {
      body = Buffer.from('fz'.repeat(below(4)));
      h = header(memberName(), 'file', { size: body.length });
    } else if (roll < 50) h = header(memberName().replace(/\/?$/, '/'), 'directory');
    else if (roll < 72) h = header(memberName(), 'symlink', { linkname: linkTarget(sandbox) });
    else if (roll < 84) h = header(memberName(), 'link', { linkname: linkTarget(sandbox) });
    else if (roll < 92) h = header(`${below(2) ? `${memberName()}/` : ''}${pick(['.wh.', '.wh..', '.wh...', '.wh.fz', '.wh.fzl', '.wh.canary', '.wh..wh..opq'])}`, 'file', { mode: 0 });
    else if (roll < 96) h = header(memberName(), 'fifo');
    else h = header(memberName(), 'char', pick([{ devmajor: 0, devminor: 0 }, { devmajor: 1, devminor: 3 }]));
    parts.push(encodeHeader(h));
    if (body) parts.push(body, padding(body.length));
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

/**
 * The state of every path outside the destination. A directory's mtime moves when an entry is
 * made or removed in it, and any path's ctime when its mode, owner, link count or xattrs change,
 * so lstat of this fixed set sees every change an escape could make here, without a walk.
 */
function listing(watched: readonly string[]): string {
  return watched.map((p) => {
    const st = lstatSync(p, { throwIfNoEntry: false });
    return st ? `${p} ${st.ino} ${st.mode.toString(8)} ${st.size} ${st.nlink} ${st.mtimeMs} ${st.ctimeMs}` : `${p} missing`;
  }).join('\n');
}

/** root/<mode>/l1/l2/sb/dest, with a canary file, a canary dir and a symlink at every level. */
function makeTree(mode: ApplyMode): { sandbox: string; dest: string; watched: string[] } {
  const top = path.join(root, mode);
  const sandbox = path.join(top, 'l1', 'l2', 'sb');
  const watched = [root];
  for (const level of [top, path.join(top, 'l1'), path.join(top, 'l1', 'l2'), sandbox]) {
    mkdirSync(path.join(level, 'canary-dir'), { recursive: true });
    writeFileSync(path.join(level, 'canary'), 'precious');
    writeFileSync(path.join(level, 'canary-dir', 'inner'), 'precious');
    symlinkSync(path.join(level, 'canary-dir'), path.join(level, 'canary-link'));
    watched.push(level, ...['canary', 'canary-dir', 'canary-dir/inner', 'canary-link'].map((n) => path.join(level, n)));
  }
  return { sandbox, dest: path.join(sandbox, 'dest'), watched };
}

/** Ours at `/` or in the tmp dir: generated names all start with `fz`, or are canaries. */
function strays(): string[] {
  return ['/', tmpdir(), base].flatMap((dir) => readdirSync(dir).filter((n) => n.startsWith('fz') || n.startsWith('canary') || n === 'dest' || n === 'inner').map((n) => path.join(dir, n)));
}

describe('layer applier fuzz', () => {
  it(`${TARS} generated hostile tars, both modes: nothing outside the destination changes`, async () => {
    const trees = (['plain', 'overlay'] as const).map((mode) => ({ mode, ...makeTree(mode) }));
    let baselines: string[] = [];
    const outcomes = new Map<string, number>();
    const count = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    const started = Date.now();
    expect(strays()).toEqual([]);
    for (let done = 0; done < TARS;) {
      for (const t of trees) {
        rmSync(t.dest, { recursive: true, force: true });
        mkdirSync(t.dest);
      }
      // Making the destination afresh changes its parent: the baseline is taken after.
      baselines = trees.map((t) => listing(t.watched));
      for (let i = 0; i < BATCH && done < TARS; i++, done++) {
        const tar = generateTar(trees[0].sandbox);
        for (const [n, t] of trees.entries()) {
          try {
            await applyTar(Readable.from([tar]), t.dest, { mode: t.mode, layer: `fuzz#${done}` });
            count(`${t.mode} applied`);
          } catch (error) {
            if (!(error instanceof LayerMemberError)) throw new Error(`tar #${done} (seed ${SEED}) ${t.mode}: ${(error as Error).stack}`);
            expect(error.message).toContain(`fuzz#${done}`);
            count(`${t.mode} refused: ${error.reason.replace(/".*$/s, '').replace(/\d+/g, 'N').slice(0, 60)}`);
          }
          const now = listing(t.watched);
          if (now !== baselines[n]) {
            throw new Error(`tar #${done} (seed ${SEED}) in ${t.mode} mode changed the outside:\n${diffLines(baselines[n], now)}\n${tar.toString('latin1').replace(/\0+/g, ' ')}`);
          }
          if (!lstatSync(t.dest).isDirectory()) throw new Error(`tar #${done} (seed ${SEED}) ${t.mode}: the destination is no longer a directory`);
        }
      }
      if (done % (BATCH * 64) === 0) expect(strays()).toEqual([]);
    }
    expect(strays()).toEqual([]);
    const seconds = (Date.now() - started) / 1000;
    const summary = [...outcomes].sort((a, b) => b[1] - a[1]).map(([k, v]) => `  ${v}\t${k}`).join('\n');
    process.stdout.write(`layer fuzz: ${TARS} tars × 2 modes in ${seconds.toFixed(1)} s (seed ${SEED})\n${summary}\n`);
    // Both outcomes must be common, or the generator tests nothing.
    expect(outcomes.get('plain applied') ?? 0).toBeGreaterThan(TARS / 20);
    expect(TARS * 2 - (outcomes.get('plain applied') ?? 0) - (outcomes.get('overlay applied') ?? 0)).toBeGreaterThan(TARS / 20);
  }, 600_000);
});

function diffLines(before: string, after: string): string {
  const a = new Set(before.split('\n'));
  const b = new Set(after.split('\n'));
  return [...[...a].filter((l) => !b.has(l)).map((l) => `- ${l}`), ...[...b].filter((l) => !a.has(l)).map((l) => `+ ${l}`)].join('\n');
}
