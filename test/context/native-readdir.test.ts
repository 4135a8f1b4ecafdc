/**
 * The native directory reader (readdirStat in native/addon/sys.c) and the walk built on it: names
 * and their order, every stat field against Node's own lstat (Number and BigInt), file types, the
 * errors callers see, and a walk compared with the readdirSync + lstatSync walk it replaced.
 */
import {
  linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync, type Stats,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lstatWalkStats, readdirWalkStats, WalkStats } from '../../src/context/stats.ts';
import { NO_FILTER, walkContext, type ContextFilter } from '../../src/context/walk.ts';
import { fsExtra, S_IFCHR, S_IFIFO } from '../../src/sys/fsx.ts';

let dir: string;
const isRoot = process.getuid?.() === 0;

// Names whose JavaScript order differs from their UTF-8 byte order: U+1F600 (surrogates in UTF-16)
// sorts before U+FF01 there, after it in bytes.
const NAMES = ['b', 'a', 'B', 'a-b', 'ab', 'é', '\u{1F600}', '\uFF01', 'z\u{1F600}', 'z\uFFFD', '10', '9', ' sp', '.hidden'];

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-native-readdir-'));
  for (const name of NAMES) writeFileSync(path.join(dir, name), name);
  mkdirSync(path.join(dir, 'sub/deeper'), { recursive: true });
  writeFileSync(path.join(dir, 'sub/deeper/file'), 'x'.repeat(5000));
  writeFileSync(path.join(dir, 'sub/one'), '1');
  linkSync(path.join(dir, 'sub/one'), path.join(dir, 'sub/hardlink'));
  symlinkSync('sub/one', path.join(dir, 'link'));
  symlinkSync('/nowhere/at/all', path.join(dir, 'dangling'));
  fsExtra().mknod(path.join(dir, 'fifo'), S_IFIFO | 0o640, 0, 0);
  if (isRoot) fsExtra().mknod(path.join(dir, 'chardev'), S_IFCHR | 0o600, 1, 3);
  // An mtime with a fraction below the millisecond (exact in a double), and times before 1970.
  utimesSync(path.join(dir, 'a'), 1_700_000_000.5, 1_600_000_000.0009765625);
  utimesSync(path.join(dir, 'b'), new Date(-1_000_250), new Date(-86_400_500));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NUMBER_FIELDS = [
  'dev', 'ino', 'mode', 'nlink', 'uid', 'gid', 'rdev', 'size', 'blksize', 'blocks',
  'atimeMs', 'mtimeMs', 'ctimeMs', 'birthtimeMs',
] as const;
const BIG_FIELDS = [
  'dev', 'ino', 'mode', 'nlink', 'uid', 'gid', 'rdev', 'size', 'blksize', 'blocks',
  'atimeMs', 'mtimeMs', 'ctimeMs', 'birthtimeMs', 'atimeNs', 'mtimeNs', 'ctimeNs', 'birthtimeNs',
] as const;
const DATES = ['atime', 'mtime', 'ctime', 'birthtime'] as const;
const TYPES = ['isFile', 'isDirectory', 'isSymbolicLink', 'isFIFO', 'isSocket', 'isBlockDevice', 'isCharacterDevice'] as const;

function expectSameStats(actual: WalkStats, file: string): void {
  const expected = lstatSync(file);
  const big = lstatSync(file, { bigint: true });
  for (const field of NUMBER_FIELDS) expect([file, field, actual[field]]).toEqual([file, field, expected[field]]);
  for (const field of DATES) expect([file, field, actual[field].getTime()]).toEqual([file, field, expected[field].getTime()]);
  for (const type of TYPES) expect([file, type, actual[type]()]).toEqual([file, type, expected[type]()]);
  const actualBig = actual.big;
  for (const field of BIG_FIELDS) expect([file, field, actualBig[field]]).toEqual([file, field, big[field]]);
  for (const field of DATES) expect([file, field, actualBig[field].getTime()]).toEqual([file, field, big[field].getTime()]);
  for (const type of TYPES) expect([file, type, actualBig[type]()]).toEqual([file, type, big[type]()]);
  expect(actual.mtimeSec * 1e9 + actual.mtimeNsec).toBe(Number(big.mtimeNs));
  expect(BigInt(actual.ctimeSec) * 1_000_000_000n + BigInt(actual.ctimeNsec)).toBe(big.ctimeNs);
}

describe('readdirWalkStats', () => {
  it('lists every entry but . and .., sorted as JavaScript sorts strings', () => {
    const { names } = readdirWalkStats(dir);
    expect(names).toEqual(readdirSync(dir).sort());
    expect(names.indexOf('\u{1F600}')).toBeLessThan(names.indexOf('\uFF01'));
  });

  it('puts the prefix in front of every name', () => {
    expect(readdirWalkStats(path.join(dir, 'sub'), 'sub/').names).toEqual(['sub/deeper', 'sub/hardlink', 'sub/one']);
  });

  it('gives every field lstat gives, for files, directories, links, fifos and devices', () => {
    for (const sub of ['', 'sub', 'sub/deeper']) {
      const { names, chunk } = readdirWalkStats(path.join(dir, sub));
      expect(chunk.count).toBe(names.length);
      names.forEach((name, i) => expectSameStats(new WalkStats(chunk, i), path.join(dir, sub, name)));
    }
    const { names, chunk } = readdirWalkStats(dir);
    const stat = (name: string): WalkStats => new WalkStats(chunk, names.indexOf(name));
    expect(stat('link').isSymbolicLink()).toBe(true);
    expect(stat('dangling').size).toBe('/nowhere/at/all'.length);
    expect(stat('fifo').isFIFO()).toBe(true);
    expect(stat('fifo').mode & 0o7777).toBe(0o640);
    expect(stat('sub').isDirectory()).toBe(true);
    // The nanoseconds below the millisecond survive.
    expect(stat('a').mtimeNsec % 1_000_000).not.toBe(0);
    expect(stat('b').mtimeSec).toBeLessThan(0);
    if (isRoot) expect(stat('chardev').rdev).toBe(lstatSync(path.join(dir, 'chardev')).rdev);
    const sub = readdirWalkStats(path.join(dir, 'sub'));
    expect(new WalkStats(sub.chunk, sub.names.indexOf('hardlink')).nlink).toBe(2);
  });

  it('finds the newest ctime of a directory', () => {
    utimesSync(path.join(dir, 'é'), new Date(), new Date());
    const { names, chunk } = readdirWalkStats(dir);
    expect(chunk.newestCtimeMs()).toBe(Math.max(...names.map((name) => lstatSync(path.join(dir, name)).ctimeMs)));
    expect(chunk.newestCtimeMs()).toBe(lstatSync(path.join(dir, 'é')).ctimeMs);
  });

  it('reads an empty directory', () => {
    mkdirSync(path.join(dir, 'empty'));
    try {
      const { names, chunk } = readdirWalkStats(path.join(dir, 'empty'), 'empty/');
      expect(names).toEqual([]);
      expect(chunk.count).toBe(0);
      expect(chunk.newestCtimeMs()).toBe(-Infinity);
    } finally {
      rmSync(path.join(dir, 'empty'), { recursive: true });
    }
  });

  it('fails as readdirSync does: ENOENT and ENOTDIR from scandir, with errno and path', () => {
    const missing = path.join(dir, 'missing');
    expect(() => readdirWalkStats(missing)).toThrow(expect.objectContaining({
      code: 'ENOENT', errno: -2, syscall: 'scandir', path: missing,
      message: `ENOENT: no such file or directory, scandir '${missing}'`,
    }));
    expect(() => readdirWalkStats(path.join(dir, 'a'))).toThrow(expect.objectContaining({ code: 'ENOTDIR', syscall: 'scandir' }));
    expect(() => readdirWalkStats(path.join(dir, 'a'))).toThrow(Error);
  });
});

describe('lstatWalkStats', () => {
  it('gives what lstat gives, not following links', () => {
    for (const name of ['a', 'b', 'sub', 'link', 'dangling', 'fifo', 'é']) expectSameStats(lstatWalkStats(path.join(dir, name)), path.join(dir, name));
  });

  it('fails as lstatSync does', () => {
    const missing = path.join(dir, 'missing');
    let caught: unknown;
    try {
      lstatSync(missing);
    } catch (error) {
      caught = error;
    }
    const expected = caught as NodeJS.ErrnoException;
    expect(() => lstatWalkStats(missing)).toThrow(expect.objectContaining({
      code: expected.code, errno: expected.errno, syscall: expected.syscall, path: expected.path, message: expected.message,
    }));
  });
});

/** The walk as it was before the native reader: readdirSync, sort, lstatSync per entry. */
function referenceWalk(root: string, filter: ContextFilter, startRel = ''): Array<{ rel: string; hostPath: string; stat: Stats }> {
  const out: Array<{ rel: string; hostPath: string; stat: Stats }> = [];
  const visit = (rel: string, stat: Stats): void => {
    const isExcluded = rel !== '' && filter.excluded(rel);
    if (stat.isDirectory()) {
      if (isExcluded && !filter.mustDescend(rel)) return;
      const before = out.length;
      if (rel !== '') out.push({ rel, hostPath: path.join(root, rel), stat });
      for (const name of readdirSync(path.join(root, rel)).sort()) {
        const child = rel ? `${rel}/${name}` : name;
        visit(child, lstatSync(path.join(root, child)));
      }
      if (isExcluded && out.length === before + 1) out.pop();
      return;
    }
    if (!isExcluded) out.push({ rel, hostPath: path.join(root, rel), stat });
  };
  visit(startRel, lstatSync(path.join(root, startRel)));
  return out;
}

describe('walkContext', () => {
  const summary = (entries: Array<{ rel: string; hostPath: string; stat: Stats }>): unknown[] =>
    entries.map((e) => [e.rel, e.hostPath, e.stat.mode, e.stat.size, e.stat.ino, e.stat.mtimeMs]);

  it('lists what the readdirSync + lstatSync walk lists, in the same order, with the same host paths', () => {
    const filters: ContextFilter[] = [
      NO_FILTER,
      { excluded: (rel) => rel.startsWith('sub'), mustDescend: () => false },
      { excluded: (rel) => rel === 'sub' || rel === 'sub/deeper', mustDescend: (rel) => rel === 'sub' },
      { excluded: (rel) => rel.startsWith('sub') && rel !== 'sub/deeper/file', mustDescend: () => true },
      { excluded: (rel) => rel.startsWith('sub'), mustDescend: () => true },
    ];
    for (const filter of filters) {
      for (const root of [dir, `${dir}/`, `${dir}/sub/..`]) {
        expect(summary(walkContext(root, filter))).toEqual(summary(referenceWalk(root, filter)));
      }
      for (const start of ['sub', 'sub/deeper', 'a', 'link']) {
        expect(summary(walkContext(dir, filter, start))).toEqual(summary(referenceWalk(dir, filter, start)));
      }
    }
  });

  it('walks from / without doubling the slash', () => {
    const entries = walkContext('/', NO_FILTER, path.relative('/', path.join(dir, 'sub')));
    expect(entries.map((e) => e.hostPath)).toEqual(referenceWalk('/', NO_FILTER, path.relative('/', path.join(dir, 'sub'))).map((e) => e.hostPath));
  });

  it('fails with ENOENT for a start that does not exist', () => {
    expect(() => walkContext(dir, NO_FILTER, 'missing')).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'lstat' }));
  });
});
