/**
 * COPY/ADD features the differential script cannot check (Debian's Docker 20.10 predates them):
 * heredocs, --link, --parents, --exclude, symbolic --chmod, ADD --unpack and URLs with
 * --checksum, written from the Dockerfile reference and checked on the built image. Also the
 * places where 20.10 is documented to be wrong (unknown --chown names, octal --chmod special bits).
 * Needs root.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packTar } from '../../src/layer/tar-io.ts';
import { makeCopyBox, type CopyBox } from './copy-image.ts';

let box: CopyBox;
let server: Server;
let base: string;
let served = 'first version\n';
const LAST_MODIFIED = 'Wed, 21 Oct 2015 07:28:00 GMT';

async function tarGz(files: Record<string, string>): Promise<Buffer> {
  const parts: Buffer[] = [];
  const entries = Object.entries(files).map(([name, text]) => ({
    header: { name, type: 'file' as const, mode: 0o640, uid: 1234, gid: 0, size: Buffer.byteLength(text), mtime: 1_700_000_000 },
    body: Buffer.from(text),
  }));
  for await (const part of packTar(entries)) parts.push(part);
  return gzipSync(Buffer.concat(parts));
}

let archive: Buffer;
let tagged = 'tagged one\n';
let sent = 0;
const conditional: string[] = [];

beforeAll(async () => {
  box = await makeCopyBox('copy-features');
  archive = await tarGz({ 'inner/file.txt': 'from the archive\n' });
  server = createServer((req, res) => {
    if (req.url === '/files/hello.txt') {
      res.writeHead(200, { 'Last-Modified': LAST_MODIFIED });
      res.end('hello from http\n');
    } else if (req.url === '/files/changing.txt') {
      res.end(served);
    } else if (req.url === '/files/tagged.txt') {
      // A server with validators: a conditional request for the current version gets a 304.
      const etag = `"${createHash('sha256').update(tagged).digest('hex').slice(0, 16)}"`;
      conditional.push(`${req.headers['if-none-match'] ?? '-'} ${req.headers['if-modified-since'] ?? '-'}`);
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, { ETag: etag });
        res.end();
        return;
      }
      sent++;
      res.writeHead(200, { ETag: etag, 'Last-Modified': LAST_MODIFIED });
      res.end(tagged);
    } else if (req.url === '/files/a.tar.gz') {
      res.end(archive);
    } else if (req.url === '/') {
      res.end('root document\n');
    } else {
      res.writeHead(404);
      res.end('no');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 120_000);
afterAll(async () => {
  box?.cleanup();
  await new Promise((resolve) => server?.close(resolve));
});

describe('heredocs', () => {
  it('writes inline files, expanding variables unless the delimiter is quoted', async () => {
    const image = await box.image([
      'FROM busybox:local', 'ENV NAME=world',
      'COPY <<EOF /h/one.txt', 'hello $NAME', 'EOF',
      'COPY <<"EOF" /h/quoted.txt', 'hello $NAME', 'EOF',
      'COPY --chown=app --chmod=600 <<a.txt <<b.txt /h/multi/', 'first', 'a.txt', 'second', 'b.txt',
      'ADD <<EOF /h/added.tar', 'not an archive', 'EOF', '',
    ].join('\n'));
    expect(image.files.get('h/one.txt')).toMatchObject({ text: 'hello world\n', mode: 0o644, uid: 0 });
    expect(image.files.get('h/quoted.txt')?.text).toBe('hello $NAME\n');
    expect(image.files.get('h/multi/a.txt')).toMatchObject({ text: 'first\n', mode: 0o600, uid: 1000 });
    expect(image.files.get('h/multi/b.txt')?.text).toBe('second\n');
    expect(image.files.get('h/added.tar')?.text).toBe('not an archive\n');
  });
});

describe('COPY --link', () => {
  it('gives the same files without following the destination symlinks; parents are plain 0755 directories', async () => {
    const dockerfile = (link: string) => [
      'FROM busybox:local',
      'RUN mkdir /real && ln -s /real /linked && mkdir /sticky && chmod 1777 /sticky',
      `COPY ${link} f.txt /linked/f.txt`,
      `COPY ${link} f.txt /sticky/`,
      `COPY ${link} --chown=1000 dir /new/dir/`, '',
    ].join('\n');
    const files = { 'f.txt': 'f\n', 'dir/a': 'a\n' };
    const linked = await box.image(dockerfile('--link'), files);
    expect(linked.files.get('linked')?.type).toBe('dir');
    expect(linked.files.get('linked/f.txt')?.text).toBe('f\n');
    expect(linked.files.has('real/f.txt')).toBe(false);
    expect(linked.files.get('sticky')?.mode).toBe(0o755);
    expect(linked.files.get('new/dir/a')).toMatchObject({ text: 'a\n', uid: 1000 });
    const plain = await box.image(dockerfile(''), files);
    expect(plain.files.get('linked')?.type).toBe('symlink');
    expect(plain.files.get('real/f.txt')?.text).toBe('f\n');
    expect(plain.files.get('sticky')?.mode).toBe(0o1777);
  });
});

describe('COPY --parents', () => {
  const files = {
    'x/a.txt': 'xa\n', 'y/a.txt': 'ya\n', x: { dir: 0o700 }, 'p/q/b.txt': 'b\n', 'p/q/c.txt': 'c\n',
    'src/a.txt': 'a\n', 'src/x/b.txt': 'b\n', 'src/x/y/c.txt': 'c\n', 'src/x/d.md': 'd\n',
  };

  it('keeps the source path below the context root or the ./ pivot', async () => {
    const image = await box.image([
      'FROM busybox:local AS stage', 'RUN mkdir -p /opt/app/bin && echo tool > /opt/app/bin/tool',
      'FROM busybox:local',
      'COPY ./x/a.txt ./y/a.txt /no_parents/',
      'COPY --parents ./x/a.txt ./y/a.txt /parents/',
      'COPY --parents ./p/./q/*.txt /pivot/',
      'COPY --parents ./src/**/*.txt /deep/',
      'COPY --parents --from=stage /opt/./app/bin /fromstage/', '',
    ].join('\n'), files);
    expect(image.files.get('no_parents/a.txt')?.text).toBe('ya\n');
    expect(image.files.get('parents/x/a.txt')?.text).toBe('xa\n');
    expect(image.files.get('parents/y/a.txt')?.text).toBe('ya\n');
    expect(image.files.get('parents/x')?.mode).toBe(0o700);
    expect([...image.files.keys()].filter((k) => k.startsWith('pivot/')).sort()).toEqual(['pivot/q', 'pivot/q/b.txt', 'pivot/q/c.txt']);
    expect([...image.files.keys()].filter((k) => k.startsWith('deep/')).sort()).toEqual([
      'deep/src', 'deep/src/a.txt', 'deep/src/x', 'deep/src/x/b.txt', 'deep/src/x/y', 'deep/src/x/y/c.txt',
    ]);
    expect(image.files.get('fromstage/app/bin/tool')?.text).toBe('tool\n');
  });

  it('fails for a missing plain path', async () => {
    const result = await box.build('copy-test/parents-missing', 'FROM busybox:local\nCOPY --parents ./nope.txt /p/\n', files);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/nope.txt.*not found/);
  });
});

describe('COPY --exclude', () => {
  it('leaves out what the patterns match, in wildcard matches and below copied directories', async () => {
    const image = await box.image([
      'FROM busybox:local',
      'COPY --exclude=*.txt hom* /mydir/',
      'COPY --exclude=node_modules --exclude=*.log . /app/',
      'COPY --exclude=dir --exclude=!dir/keep.txt . /exceptions/',
      'ADD --exclude=*.md homedir /added/', '',
    ].join('\n'), {
      'home.txt': 'h\n', 'homer.md': 'm\n', 'homedir/a.txt': 'a\n', 'homedir/b.md': 'b\n',
      'node_modules/x': 'x\n', 'sub/node_modules/y': 'y\n', 'a.log': 'l\n', 'sub/b.log': 'l\n',
      'dir/keep.txt': 'k\n', 'dir/drop.txt': 'd\n',
    });
    expect([...image.files.keys()].filter((k) => k.startsWith('mydir/')).sort()).toEqual(['mydir/b.md', 'mydir/homer.md']);
    expect(image.files.has('app/node_modules')).toBe(false);
    expect(image.files.has('app/a.log')).toBe(false);
    expect(image.files.get('app/sub/node_modules/y')?.text).toBe('y\n');
    expect(image.files.get('app/sub/b.log')?.text).toBe('l\n');
    expect(image.files.get('exceptions/dir/keep.txt')?.text).toBe('k\n');
    expect(image.files.has('exceptions/dir/drop.txt')).toBe(false);
    expect([...image.files.keys()].filter((k) => k.startsWith('added/'))).toEqual(['added/a.txt']);
  });
});

describe('--chmod', () => {
  it('applies symbolic modes to files and directories', async () => {
    const image = await box.image([
      'FROM busybox:local',
      'COPY --chmod=u=rwX,go=rX tree /sym/',
      'COPY --chmod=+x plain.sh /plusx',
      'COPY --chmod=g=u group.txt /gu',
      'ARG MODE=440',
      'COPY --chmod=$MODE plain.sh /from-arg',
      'COPY --chmod=4755 plain.sh /setuid', '',
    ].join('\n'), {
      'tree/exec': { text: 'e\n', mode: 0o700 }, 'tree/data': { text: 'd\n', mode: 0o600 }, 'tree/sub': { dir: 0o700 },
      'plain.sh': { text: 's\n', mode: 0o644 }, 'group.txt': { text: 'g\n', mode: 0o640 },
    });
    expect(image.files.get('sym/exec')?.mode).toBe(0o755);
    expect(image.files.get('sym/data')?.mode).toBe(0o644);
    expect(image.files.get('sym/sub')?.mode).toBe(0o755);
    expect(image.files.get('plusx')?.mode).toBe(0o755);
    expect(image.files.get('gu')?.mode).toBe(0o660);
    expect(image.files.get('from-arg')?.mode).toBe(0o440);
    expect(image.files.get('setuid')?.mode).toBe(0o4755);
  });

  it('refuses a mode that is neither octal nor symbolic', async () => {
    const result = await box.build('copy-test/bad-chmod', 'FROM busybox:local\nCOPY --chmod=rwx f /f\n', { f: 'f\n' });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/Dockerfile-\d+:2:1: invalid chmod parameter: 'rwx'/);
  });
});

describe('--chown', () => {
  it('fails for names the destination does not know (the reference; Docker 20.10 ignored them)', async () => {
    const result = await box.build('copy-test/ghost', 'FROM busybox:local\nCOPY --chown=ghost f /f\n', { f: 'f\n' });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/no such user: ghost/);
  });
});

describe('ADD --unpack', () => {
  it('unpacks local archives unless false, and downloads only when true', async () => {
    const image = await box.image([
      'FROM busybox:local',
      'ADD a.tar.gz /auto/',
      'ADD --unpack=false a.tar.gz /kept/',
      `ADD ${base}/files/a.tar.gz /remote/`,
      `ADD --unpack=true ${base}/files/a.tar.gz /remote-unpacked/`, '',
    ].join('\n'), { 'a.tar.gz': archive });
    expect(image.files.get('auto/inner/file.txt')).toMatchObject({ text: 'from the archive\n', mode: 0o640, uid: 1234 });
    expect(image.files.get('kept/a.tar.gz')?.type).toBe('file');
    expect(image.files.get('remote/a.tar.gz')).toMatchObject({ type: 'file', mode: 0o600 });
    expect(image.files.get('remote-unpacked/inner/file.txt')?.text).toBe('from the archive\n');
  });
});

describe('ADD <url>', () => {
  const sha = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;

  it('downloads with the URL name, mode 0600 and Last-Modified as mtime', async () => {
    const image = await box.image([
      'FROM busybox:local',
      `ADD ${base}/files/hello.txt /dl/`,
      `ADD ${base}/files/hello.txt /renamed`,
      `ADD ${base}/ /unnamed/`,
      `ADD --chown=app --chmod=644 ${base}/files/hello.txt /owned/`,
      'WORKDIR /w',
      `ADD --checksum=${sha('hello from http\n')} ${base}/files/hello.txt rel/`, '',
    ].join('\n'));
    expect(image.files.get('dl/hello.txt')).toMatchObject({ text: 'hello from http\n', mode: 0o600, uid: 0 });
    expect(image.files.get('dl/hello.txt')?.mtime).toBe(Date.parse(LAST_MODIFIED) / 1000);
    expect(image.files.get('renamed')?.text).toBe('hello from http\n');
    expect(image.files.get('unnamed/__unnamed__')?.text).toBe('root document\n');
    expect(image.files.get('owned/hello.txt')).toMatchObject({ mode: 0o644, uid: 1000 });
    expect(image.files.get('w/rel/hello.txt')?.text).toBe('hello from http\n');
  });

  it('fails on a checksum mismatch and on HTTP errors', async () => {
    const bad = await box.build('copy-test/bad-sum', `FROM busybox:local\nADD --checksum=${sha('other')} ${base}/files/hello.txt /x\n`);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/digest mismatch/);
    const missing = await box.build('copy-test/404', `FROM busybox:local\nADD ${base}/nope /x\n`);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/invalid response status 404/);
  });

  it('asks again with If-None-Match: an unchanged URL is not downloaded again and stays a cache hit', async () => {
    const dockerfile = `FROM busybox:local\nADD ${base}/files/tagged.txt /t.txt\n`;
    expect((await box.image(dockerfile)).files.get('t.txt')?.text).toBe('tagged one\n');
    expect(sent).toBe(1);
    const again = await box.build('copy-test/tagged', dockerfile);
    expect(again.stderr).toMatch(/CACHED/);
    expect(sent).toBe(1);
    expect(conditional.at(-1)).toMatch(/^"[0-9a-f]{16}" /);
    expect(conditional.at(-1)).toContain(LAST_MODIFIED);
    tagged = 'tagged two\n';
    expect((await box.image(dockerfile)).files.get('t.txt')?.text).toBe('tagged two\n');
    expect(sent).toBe(2);
  });

  it('keys the cache on the downloaded content', async () => {
    const dockerfile = `FROM busybox:local\nADD ${base}/files/changing.txt /c.txt\n`;
    served = 'first version\n';
    expect((await box.image(dockerfile)).files.get('c.txt')?.text).toBe('first version\n');
    const again = await box.build('copy-test/changing', dockerfile);
    expect(again.stderr).toMatch(/CACHED/);
    served = 'second version\n';
    expect((await box.image(dockerfile)).files.get('c.txt')?.text).toBe('second version\n');
  });

  it('reports a git remote it cannot reach at the instruction', async () => {
    const result = await box.build('copy-test/git', 'FROM busybox:local\nADD git://127.0.0.1:9/nothing.git#v0.14.1:docs /bk\n');
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/Dockerfile-\d+:2:1: git ls-remote failed/);
  });
});
