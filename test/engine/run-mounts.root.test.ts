/**
 * RUN --mount through real builds (bind, cache, tmpfs, ssh), RUN --network and --security, with the
 * Dockerfile reference's semantics and Docker 26's mount points (BuildKit >= 0.12 removes the empty
 * directories it made for them; 20.10 kept them). Needs root.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBuildBox, read, type BuildBox } from './build-box.ts';
import { countOutcome } from '../e2e/harness.ts';

let box: BuildBox;
beforeAll(async () => { box = await makeBuildBox('run-mounts'); }, 120_000);
afterAll(() => box?.cleanup());

describe('RUN --mount=type=bind', () => {
  it('binds context files and directories read-only; the mount points are gone after the step', async () => {
    const ctx = box.context({
      Dockerfile: [
        'FROM busybox:local',
        'RUN --mount=type=bind,source=in.txt,target=/in.txt cat /in.txt > /from-file',
        'RUN --mount=type=bind,source=sub,target=/s cat /s/f > /from-dir && (touch /s/x 2>/dev/null && echo rw || echo ro) > /ro',
        'RUN --mount=target=/whole ls /whole > /whole-list',
        '',
      ].join('\n'),
      'in.txt': 'hello\n', 'sub/f': 'deep\n',
    });
    const { out } = await box.buildFs(ctx);
    expect(read(out, 'from-file')).toBe('hello\n');
    expect(read(out, 'from-dir')).toBe('deep\n');
    expect(read(out, 'ro')).toBe('ro\n');
    expect(read(out, 'whole-list')).toBe('Dockerfile\nin.txt\nsub\n');
    expect(existsSync(path.join(out, 'in.txt'))).toBe(false);
    expect(existsSync(path.join(out, 's'))).toBe(false);
    expect(existsSync(path.join(out, 'whole'))).toBe(false);
  });

  it('throws away rw writes: not in the image, not in the context', async () => {
    const ctx = box.context({
      Dockerfile: 'FROM busybox:local\nRUN --mount=type=bind,target=/c,rw echo new > /c/new && rm /c/keep && ls /c > /list\n',
      keep: 'keep\n',
    });
    const { out } = await box.buildFs(ctx);
    expect(read(out, 'list')).toBe('Dockerfile\nnew\n');
    expect(existsSync(path.join(out, 'c'))).toBe(false);
    expect(readdirSync(ctx).sort()).toEqual(['Dockerfile', 'keep']);
    expect(read(ctx, 'keep')).toBe('keep\n');
  });

  it('hides what .dockerignore excludes, and only what it reads invalidates the cache', async () => {
    const ctx = box.context({
      Dockerfile: 'FROM busybox:local\nRUN --mount=type=bind,source=app,target=/app find /app | sort > /list\n',
      '.dockerignore': 'app/drop\n**/*.key\n',
      'app/a': 'a\n', 'app/drop/x': 'x\n', 'app/sub/id.key': 'k\n', 'app/sub/b': 'b\n', 'other.txt': '1\n',
    });
    const first = await box.buildFs(ctx);
    expect(read(first.out, 'list')).toBe('/app\n/app/a\n/app/sub\n/app/sub/b\n');
    writeFileSync(path.join(ctx, 'other.txt'), '2\n');
    writeFileSync(path.join(ctx, 'app/drop/x'), 'changed\n');
    expect(countOutcome((await box.buildFs(ctx)).log, 'CACHED')).toBe(1);
    writeFileSync(path.join(ctx, 'app/a'), 'changed\n');
    expect(countOutcome((await box.buildFs(ctx)).log, 'CACHED')).toBe(0);
  });

  it('mounts a stage or an image root, with source inside it, without changing it', async () => {
    const ctx = box.context({
      Dockerfile: [
        'FROM busybox:local AS tools',
        'RUN mkdir -p /tools/sub && echo tool > /tools/t && echo s > /tools/sub/s && ln -s /tools/sub /tools/link && chown 1000:1000 /tools/t',
        'FROM scratch AS empty',
        'FROM busybox:local',
        'RUN --mount=type=bind,from=tools,source=/tools,target=/m cat /m/t > /t && stat -c "%u:%g" /m/t > /owner',
        'RUN --mount=type=bind,from=tools,source=tools/link,target=/l cat /l/s > /via-link',
        'RUN --mount=type=bind,from=tools,source=/tools,target=/rw,rw echo x > /rw/new && rm /rw/t && ls /rw > /rw-list',
        'RUN --mount=type=bind,from=busybox:local,source=/etc/group,target=/g head -1 /g > /group',
        'RUN --mount=type=bind,from=empty,target=/e ls -A /e > /empty',
        'COPY --from=tools /tools /after',
        '',
      ].join('\n'),
    });
    const { out } = await box.buildFs(ctx);
    expect(read(out, 't')).toBe('tool\n');
    expect(read(out, 'owner')).toBe('1000:1000\n');
    expect(read(out, 'via-link')).toBe('s\n');
    expect(read(out, 'rw-list')).toBe('link\nnew\nsub\n');
    expect(read(out, 'group')).toBe('root:x:0:\n');
    expect(read(out, 'empty')).toBe('');
    expect(readdirSync(path.join(out, 'after')).sort()).toEqual(['link', 'sub', 't']);
    expect(existsSync(path.join(out, 'rw'))).toBe(false);
  });

  it('reports a source that is not there at the mount flag', async () => {
    const ctx = box.context({ Dockerfile: 'FROM busybox:local\nRUN --mount=type=bind,source=nope,target=/n true\n' });
    const result = await box.berth(['build', ctx]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/Dockerfile:2:\d+: failed to compute cache key: "\/nope": not found/);
  });
});

describe('RUN --mount=type=cache', () => {
  it('persists between builds, per id, and never reaches the image', async () => {
    const dockerfile = [
      'FROM busybox:local',
      'RUN --mount=type=cache,target=/var/cache/c echo run >> /var/cache/c/log && wc -l < /var/cache/c/log > /count',
      'RUN --mount=type=cache,id=shared-id,target=/one echo one > /one/f',
      'RUN --mount=type=cache,id=shared-id,target=/two cat /two/f > /two-saw',
      'RUN --mount=type=cache,target=/owned,uid=1000,gid=1000,mode=0700 stat -c "%u %g %a" /owned > /owned-stat',
      '',
    ].join('\n');
    const ctx = box.context({ Dockerfile: dockerfile });
    const first = await box.buildFs(ctx, ['--no-cache']);
    expect(read(first.out, 'count').trim()).toBe('1');
    expect(read(first.out, 'two-saw')).toBe('one\n');
    expect(read(first.out, 'owned-stat')).toBe('1000 1000 700\n');
    expect(existsSync(path.join(first.out, 'var/cache/c'))).toBe(false);
    const second = await box.buildFs(ctx, ['--no-cache']);
    expect(read(second.out, 'count').trim()).toBe('2');
    // The step cache ignores cache mount contents: a cached rebuild keeps the first result.
    expect(read((await box.buildFs(ctx)).out, 'count').trim()).toBe('2');
    expect(readdirSync(path.join(box.root, 'cache-mounts')).length).toBeGreaterThanOrEqual(3);
  });

  it('starts from a stage directory with from= and source=', async () => {
    const ctx = box.context({
      Dockerfile: [
        'FROM busybox:local AS seed',
        'RUN mkdir -p /s && echo seeded > /s/f',
        'FROM busybox:local',
        'RUN --mount=type=cache,target=/c,from=seed,source=/s cat /c/f > /got',
        '',
      ].join('\n'),
    });
    expect(read((await box.buildFs(ctx)).out, 'got')).toBe('seeded\n');
  });

  it('runs locked users one at a time and gives private users their own directory', async () => {
    const step = (name: string, sharing: string, cache: string): string =>
      `FROM busybox:local AS ${name}\nRUN --mount=type=cache,id=${cache},target=/c,sharing=${sharing} ` +
      `echo start >> /c/log; cat /c/log > /${name}-saw; sleep 0.4; echo end >> /c/log; cat /c/log > /${name}-log\n`;
    const ctx = box.context({
      Dockerfile: [
        step('l1', 'locked', 'lk'), step('l2', 'locked', 'lk'), step('p1', 'private', 'pv'), step('p2', 'private', 'pv'),
        'FROM busybox:local',
        'COPY --from=l1 /l1-log /l1-log', 'COPY --from=l2 /l2-log /l2-log',
        'COPY --from=p1 /p1-saw /p1-saw', 'COPY --from=p2 /p2-saw /p2-saw',
        '',
      ].join('\n'),
    });
    const { out } = await box.buildFs(ctx, ['--jobs', '4', '--no-cache']);
    const logs = [read(out, 'l1-log'), read(out, 'l2-log')].sort();
    // The second user started only after the first had ended.
    expect(logs).toEqual(['start\nend\n', 'start\nend\nstart\nend\n']);
    // Private users ran at the same time, each in a cache of its own (one of them the shared one).
    expect([read(out, 'p1-saw'), read(out, 'p2-saw')]).toEqual(['start\n', 'start\n']);
  });
});

describe('RUN --mount=type=tmpfs and type=ssh', () => {
  it('mounts a tmpfs of the given size whose contents never reach the image', async () => {
    const ctx = box.context({
      Dockerfile: 'FROM busybox:local\nRUN --mount=type=tmpfs,target=/scratch,size=2m echo x > /scratch/x && grep " /scratch " /proc/mounts > /mounts\n',
    });
    const { out } = await box.buildFs(ctx);
    expect(read(out, 'mounts')).toMatch(/^tmpfs \/scratch tmpfs rw.*size=2048k/);
    expect(existsSync(path.join(out, 'scratch'))).toBe(false);
  });

  it('refuses a required ssh mount without an agent clearly, at the flag', async () => {
    const ctx = box.context({ Dockerfile: 'FROM busybox:local\nRUN --mount=type=ssh,required=true true\n' });
    const result = await box.berth(['build', ctx]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/Dockerfile:2:\d+: no SSH agent for id default/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('RUN --network and --security', () => {
  it('honours --network=none per step in a host-network build', async () => {
    const ctx = box.context({
      Dockerfile: 'FROM busybox:local\nRUN --network=none tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " > /none\nRUN tail -n +3 /proc/net/dev | wc -l > /host\n',
    });
    const { out } = await box.buildFs(ctx, ['--network', 'host', '--allow', 'network.host']);
    expect(read(out, 'none')).toBe('lo\n');
    const hostInterfaces = readFileSync('/proc/net/dev', 'utf8').trim().split('\n').length - 2;
    expect(Number(read(out, 'host'))).toBe(hostInterfaces);
  });

  it('refuses --security=insecure without --allow security.insecure, cached or not', async () => {
    const ctx = box.context({ Dockerfile: 'FROM busybox:local\nRUN --security=insecure grep CapEff /proc/self/status > /caps\n' });
    const refused = await box.berth(['build', ctx]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/Dockerfile:2:1: RUN --security=insecure needs the security.insecure entitlement/);
    const { out } = await box.buildFs(ctx, ['--allow', 'security.insecure']);
    const ours = /CapPrm:\s+([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1];
    expect(read(out, 'caps')).toBe(`CapEff:\t${ours}\n`);
    expect((await box.berth(['build', ctx])).code).not.toBe(0);
  });

  it('rejects unknown entitlements', async () => {
    const ctx = box.context({ Dockerfile: 'FROM busybox:local\n' });
    const result = await box.berth(['build', '--allow', 'device', ctx]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/unknown entitlement "device"/);
  });
});
