/**
 * COPY/ADD's engine (match, destination rules, copier, archive extraction) on real directories:
 * a context dir, a lower layer and an upper dir, checked against what Docker's BuildKit did in the
 * differential cases (test/conformance/cases). Needs root (owners, devices, trusted.* xattrs).
 */
import { chmodSync, chownSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NO_FILTER } from '../../src/context/walk.ts';
import { packTar, type TarInput } from '../../src/layer/tar-io.ts';
import type { CopyOp } from '../../src/plan/index.ts';
import { BuildError } from '../../src/source/index.ts';
import { fsExtra } from '../../src/sys/fsx.ts';
import { executeCopy, matchSources } from '../../src/copy/execute.ts';
import { isArchive } from '../../src/copy/archive.ts';
import { contextTree, mergedTree, type SourceTree } from '../../src/copy/source-tree.ts';

let dir: string;
let ctxDir: string;
let lower: string;
let upper: string;
const range = { file: 'Dockerfile', start: { line: 2, column: 1 }, end: { line: 2, column: 10 } };

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-copy-engine-'));
  ctxDir = path.join(dir, 'ctx');
  lower = path.join(dir, 'lower');
  upper = path.join(dir, 'upper');
  for (const d of [ctxDir, lower, upper]) mkdirSync(d);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function write(root: string, rel: string, text = `${path.basename(rel)}\n`, mode = 0o644): void {
  mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  writeFileSync(path.join(root, rel), text);
  chmodSync(path.join(root, rel), mode);
}

function op(sources: string[], dest: string, extra: Partial<CopyOp> = {}): CopyOp {
  return {
    kind: 'copy', add: false, from: { kind: 'context' }, sources, dest, link: false, parents: false, exclude: [],
    keepGitDir: false, heredocs: [], user: '', cwd: '/', ...extra,
  };
}

async function copy(o: CopyOp, tree: SourceTree = contextTree(ctxDir, NO_FILTER), owner?: { uid: number; gid: number }): Promise<void> {
  const ctx = { op: o, tree, view: { layers: [upper, lower] }, owner, range };
  await executeCopy(ctx, matchSources(ctx));
}

const upperText = (rel: string): string => readFileSync(path.join(upper, rel), 'utf8');
const upperStat = (rel: string) => lstatSync(path.join(upper, rel));

describe('sources', () => {
  it('lets a wildcard match nothing, but not a plain path (c01, e08)', async () => {
    write(ctxDir, 'x.txt');
    await copy(op(['nomatch*', 'x.txt'], '/maybe/'));
    expect(readdirSync(path.join(upper, 'maybe'))).toEqual(['x.txt']);
    await expect(copy(op(['x.txt', 'missing.txt'], '/d/'))).rejects.toThrow(/"\/missing.txt": not found/);
  });

  it('expands wildcards segment by segment, a matching directory copying its contents (c01)', async () => {
    write(ctxDir, 'dir1/a.txt');
    write(ctxDir, 'dir1/sub/b.txt');
    write(ctxDir, 'dir2/c.txt');
    write(ctxDir, 'deep/one/f.txt');
    write(ctxDir, 'deep/two/f.txt', 'two\n');
    write(ctxDir, 'arr[0].txt');
    await copy(op(['dir*'], '/dirs/'));
    expect(readdirSync(path.join(upper, 'dirs')).sort()).toEqual(['a.txt', 'c.txt', 'sub']);
    await copy(op(['deep/*/f.txt'], '/deepf/'));
    expect(upperText('deepf/f.txt')).toBe('two\n');
    await copy(op(['arr[[]0].txt'], '/escaped/'));
    expect(upperText('escaped/arr[0].txt')).toBe('arr[0].txt\n');
  });

  it('resolves COPY --from paths and wildcards through symlinks inside the stage only (c03)', async () => {
    mkdirSync(path.join(lower, 'opt/app/etc'), { recursive: true });
    write(lower, 'opt/app/etc/app.conf', 'conf\n');
    write(lower, 'etc/passwd', 'stage passwd\n');
    symlinkSync('/opt/app', path.join(lower, 'app'));
    symlinkSync('../../../../../etc/passwd', path.join(lower, 'opt/app/escape'));
    const stage = mkdtempSync(path.join(dir, 'stage-'));
    rmSync(stage, { recursive: true });
    const tree = mergedTree({ layers: [lower] }, 'stage 0');
    const fromStage = { kind: 'stage' as const, stage: 0 };
    await copy(op(['/app/e*'], '/wild-from/', { from: fromStage }), tree);
    expect(upperText('wild-from/app.conf')).toBe('conf\n');
    await copy(op(['/opt/app/escape'], '/escaped', { from: fromStage }), tree);
    expect(upperText('escaped')).toBe('stage passwd\n');
  });

  it('never follows a context symlink out of the context', async () => {
    symlinkSync('/etc', path.join(ctxDir, 'etc-link'));
    await expect(copy(op(['etc-link/passwd'], '/x'))).rejects.toThrow(/not found/);
    symlinkSync('/etc/hostname', path.join(ctxDir, 'abs'));
    await expect(copy(op(['abs'], '/x'))).rejects.toThrow(/not found/);
  });
});

describe('destination rules', () => {
  it('copies several sources to a path without a slash one after the other (e01, e02)', async () => {
    write(ctxDir, 'a.txt');
    write(ctxDir, 'b.txt');
    await copy(op(['a.txt', 'b.txt'], '/dest'));
    expect(upperText('dest')).toBe('b.txt\n');
  });

  it('refuses a file over a directory and a directory over a file (e03, e04, e09)', async () => {
    write(ctxDir, 'dir/x', 'x\n');
    mkdirSync(path.join(lower, 'dst/x/y'), { recursive: true });
    await expect(copy(op(['dir'], '/dst/'))).rejects.toThrow(/cannot replace to directory \/dst\/x with file/);
    write(lower, 'file');
    await expect(copy(op(['dir'], '/file'))).rejects.toThrow(BuildError);
  });

  it('writes into a symlinked destination directory (p10, c02)', async () => {
    mkdirSync(path.join(lower, 'real'));
    symlinkSync('/real', path.join(lower, 'abs'));
    write(ctxDir, 'f.txt');
    await copy(op(['f.txt'], '/abs/'));
    expect(upperText('real/f.txt')).toBe('f.txt\n');
  });

  it('gives merged subdirectories the source metadata, keeps the top one (c14)', async () => {
    mkdirSync(path.join(lower, 'dst/sub'), { recursive: true });
    chmodSync(path.join(lower, 'dst'), 0o1777);
    chmodSync(path.join(lower, 'dst/sub'), 0o700);
    write(ctxDir, 'src/sub/new.txt');
    chmodSync(path.join(ctxDir, 'src/sub'), 0o750);
    await copy(op(['src'], '/dst/'));
    expect(upperStat('dst').mode & 0o7777).toBe(0o1777);
    expect(upperStat('dst/sub').mode & 0o7777).toBe(0o750);
  });
});

describe('owners, hardlinks, special files', () => {
  it('keeps owners from a stage, makes context files root-owned (c13)', async () => {
    write(lower, 'o/a');
    chownSync(path.join(lower, 'o/a'), 1000, 1000);
    write(ctxDir, 'f.txt');
    chownSync(path.join(ctxDir, 'f.txt'), 1234, 5678);
    await copy(op(['/o'], '/from-stage/', { from: { kind: 'stage', stage: 0 } }), mergedTree({ layers: [lower] }, 'stage 0'));
    expect(upperStat('from-stage/a').uid).toBe(1000);
    await copy(op(['f.txt'], '/ctx/'));
    expect(upperStat('ctx/f.txt').uid).toBe(0);
    await copy(op(['f.txt'], '/chowned/'), undefined, { uid: 7, gid: 8 });
    expect(upperStat('chowned/f.txt').gid).toBe(8);
  });

  it('keeps hardlinks within one source as hardlinks, not across sources (c07)', async () => {
    write(ctxDir, 'h/one', 'one\n');
    linkSync(path.join(ctxDir, 'h/one'), path.join(ctxDir, 'h/two'));
    await copy(op(['h'], '/hl/'));
    expect(upperStat('hl/one').ino).toBe(upperStat('hl/two').ino);
    await copy(op(['h/one', 'h/two'], '/separate/'));
    expect(upperStat('separate/one').ino).not.toBe(upperStat('separate/two').ino);
  });

  it('copies fifos and keeps symlinks in a tree as symlinks', async () => {
    mkdirSync(path.join(ctxDir, 'd'));
    fsExtra().mknod(path.join(ctxDir, 'd/fifo'), 0o010644, 0, 0);
    symlinkSync('../elsewhere', path.join(ctxDir, 'd/link'));
    await copy(op(['d'], '/d/'));
    expect(upperStat('d/fifo').isFIFO()).toBe(true);
    expect(readlinkSync(path.join(upper, 'd/link'))).toBe('../elsewhere');
  });

  it('makes a directory that replaces a hidden lower directory opaque', async () => {
    mkdirSync(path.join(lower, 'x/old'), { recursive: true });
    write(ctxDir, 'd/x/new');
    // An earlier write of this step put a file where the lower directory is.
    writeFileSync(path.join(upper, 'x'), 'file\n');
    await expect(copy(op(['d'], '/'))).rejects.toThrow(/cannot copy to non-directory/);
    rmSync(path.join(ctxDir, 'd'), { recursive: true });
    write(ctxDir, 'x.tar', 'placeholder');
    writeFileSync(path.join(ctxDir, 'x.tar'), await tarOf([{ header: h('x/', 'directory', { mode: 0o755 }) }, { header: h('x/new', 'file', { size: 2 }), body: Buffer.from('n\n') }]));
    await copy(op(['x.tar'], '/', { add: true }));
    expect(readdirSync(path.join(upper, 'x'))).toEqual(['new']);
    expect(fsExtra().lgetxattr(path.join(upper, 'x'), 'trusted.overlay.opaque')?.toString()).toBe('y');
  });
});

async function tarOf(entries: TarInput[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of packTar(entries)) parts.push(part);
  return Buffer.concat(parts);
}

const h = (name: string, type: 'file' | 'directory' | 'symlink' | 'link', extra: Record<string, unknown> = {}) => ({
  name, type, mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000, ...extra,
});

describe('ADD archives (p09, c05, c12)', () => {
  it('recognises archives by content only', async () => {
    write(ctxDir, 'notatar.tar.gz', 'text\n');
    write(ctxDir, 'empty.tar');
    writeFileSync(path.join(ctxDir, 'empty.tar'), '');
    writeFileSync(path.join(ctxDir, 'gz-text.gz'), gzipSync('not a tar\n'));
    writeFileSync(path.join(ctxDir, 'real'), gzipSync(await tarOf([{ header: h('a', 'file', { size: 2 }), body: Buffer.from('a\n') }])));
    expect(await isArchive(path.join(ctxDir, 'notatar.tar.gz'))).toBe(false);
    expect(await isArchive(path.join(ctxDir, 'empty.tar'))).toBe(false);
    expect(await isArchive(path.join(ctxDir, 'gz-text.gz'))).toBe(false);
    expect(await isArchive(path.join(ctxDir, 'real'))).toBe(true);
  });

  it('extracts bzip2 and xz archives', async () => {
    const cases = path.resolve(import.meta.dirname, '../conformance/cases/c05-add-tar-formats/context');
    for (const name of ['tree.tar.bz2', 'tree.tar.xz', 'tree.tar.gz', 'plain.tar']) {
      writeFileSync(path.join(ctxDir, name), readFileSync(path.join(cases, name)));
    }
    await copy(op(['tree.tar.bz2'], '/bz/', { add: true }));
    await copy(op(['tree.tar.xz'], '/xz', { add: true }));
    expect(upperText('bz/b/a.txt')).toBe('alpha\n');
    expect(upperStat('bz/b/a.txt').uid).toBe(1234);
    expect(upperStat('bz/b/hard.txt').ino).toBe(upperStat('bz/b/a.txt').ino);
    expect(upperStat('xz/x/exec.sh').mode & 0o7777).toBe(0o4755);
    expect(readlinkSync(path.join(upper, 'xz/x/sym'))).toBe('a.txt');
    await copy(op(['*.tar'], '/wild/', { add: true }));
    expect(upperText('wild/p/a.txt')).toBe('alpha\n');
    await copy(op(['plain.tar'], '/kept/', { add: true, unpack: false }));
    expect(upperStat('kept/plain.tar').isFile()).toBe(true);
    await copy(op(['plain.tar'], '/copied/'));
    expect(upperStat('copied/plain.tar').isFile()).toBe(true);
  });

  it('extracts as if chrooted in the destination, merging and replacing (c12)', async () => {
    writeFileSync(path.join(ctxDir, 'links.tar'), await tarOf([
      { header: h('real/', 'directory', { mode: 0o755 }) },
      { header: h('abs', 'symlink', { linkname: '/real' }) },
      { header: h('abs/inside.txt', 'file', { size: 3 }), body: Buffer.from('in\n') },
      { header: h('../up.txt', 'file', { size: 3 }), body: Buffer.from('up\n') },
      { header: h('noparent/made/f', 'file', { size: 2, mode: 0o600 }), body: Buffer.from('p\n') },
      { header: h('was-dir', 'file', { size: 2 }), body: Buffer.from('f\n') },
      { header: h('existing/', 'directory', { mode: 0o700, uid: 7, gid: 7 }) },
    ]));
    mkdirSync(path.join(lower, 'dst/was-dir/sub'), { recursive: true });
    write(lower, 'dst/existing/old.txt');
    await copy(op(['links.tar'], '/dst/', { add: true }));
    expect(upperText('dst/real/inside.txt')).toBe('in\n');
    expect(upperText('dst/up.txt')).toBe('up\n');
    expect(upperStat('dst/noparent/made').mode & 0o7777).toBe(0o755);
    expect(upperStat('dst/was-dir').isFile()).toBe(true);
    expect(upperStat('dst/existing').mode & 0o7777).toBe(0o700);
    expect(upperStat('dst/existing').uid).toBe(7);
    expect(readdirSync(path.join(upper, 'dst/existing'))).toEqual([]);
  });
});
