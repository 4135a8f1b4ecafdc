/**
 * What a build's RUN and WORKDIR do where Docker 26's BuildKit (0.13) decides, through real
 * builds; each `it` names the reason. The same behaviours are differential cases under
 * test/conformance/cases (p-numbered there). Needs root.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBuildBox, read, type BuildBox } from './build-box.ts';

let box: BuildBox;
beforeAll(async () => { box = await makeBuildBox('docker26'); }, 120_000);
afterAll(() => box?.cleanup());

const owner = (out: string, rel: string): string => {
  const st = statSync(path.join(out, rel));
  return `${st.uid}:${st.gid}`;
};

describe('RUN processes, as BuildKit 0.13 runs them', () => {
  // containerd's and runc's 2023 supplementary-group fixes: the primary GID is always one of the
  // process's groups; /etc/group memberships follow only when USER names no group.
  it('have the primary GID among their supplementary groups', async () => {
    const ctx = box.context({
      Dockerfile: [
        'FROM busybox:local',
        'RUN echo "x:x:2000:app" >> /etc/group',
        'USER app', 'RUN id -G > /tmp/app',
        'USER 4321:4321', 'RUN id -G > /tmp/ids',
        'USER app:nogroup', 'RUN id -G > /tmp/named',
        'USER 4321', 'RUN id -G > /tmp/uid',
        '',
      ].join('\n'),
    });
    const { out } = await box.buildFs(ctx);
    expect(read(out, 'tmp/app')).toBe('1000 2000\n');
    expect(read(out, 'tmp/ids')).toBe('4321\n');
    expect(read(out, 'tmp/named')).toBe('65534\n');
    expect(read(out, 'tmp/uid')).toBe('0\n');
  });

  // runc's default user "0" needs no passwd entry; a named `root` still does (Docker 26 fails it).
  it('run as 0:0 with no USER in an image without /etc/passwd, and fail USER root there', async () => {
    const ctx = box.context({
      Dockerfile: [
        'FROM busybox:local AS bb',
        'FROM scratch',
        'COPY --from=bb /bin/busybox /bin/busybox',
        'RUN ["/bin/busybox", "sh", "-c", "/bin/busybox id -u > /u; /bin/busybox id -g > /g"]',
        '',
      ].join('\n'),
    });
    const { out } = await box.buildFs(ctx);
    expect([read(out, 'u'), read(out, 'g')]).toEqual(['0\n', '0\n']);
    const named = box.context({ Dockerfile: 'FROM busybox:local AS bb\nFROM scratch\nCOPY --from=bb /bin/busybox /bin/busybox\nUSER root\nRUN ["/bin/busybox", "true"]\n' });
    const result = await box.berth(['build', named]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/unable to find user root/);
  });

  // BuildKit gives a RUN the uts name only: `ls /etc` in Docker shows no hostname file. Docker
  // 26's runc makes no /dev/core (20.10's linked it to /proc/kcore).
  it('see no /etc/hostname, but /etc/hosts and /etc/resolv.conf, and no /dev/core', async () => {
    const ctx = box.context({ Dockerfile: 'FROM busybox:local\nRUN ls /etc > /etc-list && hostname > /name && ls -A /dev > /dev-list\n' });
    const { out } = await box.buildFs(ctx);
    expect(read(out, 'dev-list').split('\n')).toEqual(expect.arrayContaining(['fd', 'null', 'ptmx', 'pts', 'shm', 'zero']));
    expect(read(out, 'dev-list').split('\n')).not.toContain('core');
    expect(read(out, 'etc-list')).toBe('group\nhosts\npasswd\nresolv.conf\n');
    expect(read(out, 'name')).toBe('buildkitsandbox\n');
    expect(existsSync(path.join(out, 'etc/hostname'))).toBe(false);
  });

  // runc makes /dev, /proc and /sys in the rootfs when the image lacks them, and BuildKit does
  // not take them out: they are in the RUN's layer (Docker 20.10 and 26).
  it('leave the empty /dev, /proc and /sys made for an image without them in the layer', async () => {
    const ctx = box.context({
      Dockerfile: [
        'FROM busybox:local AS bb',
        'FROM scratch AS s',
        'COPY --from=bb /bin/busybox /bin/busybox',
        'RUN ["/bin/busybox", "true"]',
        'FROM busybox:local',
        'COPY --from=s / /r/',
        '',
      ].join('\n'),
    });
    const { out } = await box.buildFs(ctx);
    expect(readdirSync(path.join(out, 'r')).sort()).toEqual(['bin', 'dev', 'proc', 'sys']);
    for (const dir of ['dev', 'proc', 'sys']) expect(readdirSync(path.join(out, 'r', dir))).toEqual([]);
  });
});

describe('RUN --mount points, as BuildKit >= 0.12 leaves them', () => {
  // moby/buildkit#3307 and #3314: the directories a mount needed (target and missing parents) are
  // removed after the step when empty; 20.10 kept them. A directory the command filled stays.
  it('are removed for every mount type, with the parents they needed', async () => {
    const ctx = box.context({
      Dockerfile: [
        'FROM busybox:local',
        'RUN --mount=type=bind,target=/a/b/c --mount=type=cache,target=/var/cache/x --mount=type=tmpfs,target=/t/u \\',
        '    --mount=type=secret,id=s --mount=type=secret,id=s,target=/q/r/s true',
        'RUN --mount=type=cache,target=/tmp/cc --mount=type=bind,target=/home/app/m touch /tmp/cc/x',
        'RUN --mount=type=tmpfs,target=/k/l mkdir -p /k/n',
        '',
      ].join('\n'),
      s: 'secret\n',
    });
    const { out } = await box.buildFs(ctx, ['--secret', `id=s,src=${path.join(ctx, 's')}`]);
    for (const gone of ['a', 'var/cache', 't', 'run', 'q', 'tmp/cc', 'home/app/m', 'k/l']) {
      expect(existsSync(path.join(out, gone)), gone).toBe(false);
    }
    expect(readdirSync(path.join(out, 'k'))).toEqual(['n']);
  });

  // BuildKit mounts at filepath.Join("/", workdir, target): no target is the working directory.
  it('are at the working directory when the mount has no target', async () => {
    const ctx = box.context({
      Dockerfile: [
        'FROM busybox:local',
        'WORKDIR /w',
        'RUN --mount=type=bind,source=sub cat /w/g > /from-bind',
        'RUN --mount=type=cache touch /w/c',
        'WORKDIR /v',
        'RUN --mount=type=cache ls /v > /cache-list',
        '',
      ].join('\n'),
      'sub/g': 'in\n',
    });
    const { out } = await box.buildFs(ctx);
    expect(read(out, 'from-bind')).toBe('in\n');
    // One cache: with no target its id is "." wherever the working directory is.
    expect(read(out, 'cache-list')).toBe('c\n');
    expect(readdirSync(path.join(out, 'w'))).toEqual([]);
  });
});

describe('WORKDIR owners, as BuildKit resolves a --chown', () => {
  // dockerfile2llb makes WORKDIR with llb.WithUser(USER): `root` and bare ids need no passwd,
  // a bare uid owns as uid:uid, and a name not found is 0 (Docker 20.10 and 26 agree).
  it('fall back to 0 for unknown names and own as uid:uid for a bare uid', async () => {
    const ctx = box.context({
      Dockerfile: [
        'FROM busybox:local AS t',
        'USER ghost', 'WORKDIR /g1',
        'USER app', 'WORKDIR /g2',
        'USER app:nogroup', 'WORKDIR /g3',
        'USER root:app', 'WORKDIR /g4',
        'USER 55', 'WORKDIR /g5',
        'USER app:ghostgroup', 'WORKDIR /g6',
        'FROM scratch AS s',
        'USER root', 'WORKDIR /w0',
        'USER nobody', 'WORKDIR /w1',
        'USER 77:88', 'WORKDIR /w2',
        'FROM busybox:local',
        'COPY --from=t / /t/',
        'COPY --from=s / /s/',
        '',
      ].join('\n'),
    });
    const { out } = await box.buildFs(ctx);
    expect(['g1', 'g2', 'g3', 'g4', 'g5', 'g6'].map((d) => owner(out, `t/${d}`)))
      .toEqual(['0:0', '1000:1000', '1000:65534', '0:1000', '55:55', '1000:1000']);
    expect(['w0', 'w1', 'w2'].map((d) => owner(out, `s/${d}`))).toEqual(['0:0', '0:0', '77:88']);
  });

  // The reference: "--chown ... names ... the build will fail" when they are not found; BuildKit
  // 0.13 uses 0:0 for an unknown name, 20.10 too. berth keeps the reference's error.
  it('but COPY --chown=<unknown name> fails, as the reference says', async () => {
    const ctx = box.context({ Dockerfile: 'FROM busybox:local\nCOPY --chown=ghost f /f\n', f: 'x\n' });
    const result = await box.berth(['build', ctx]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/Dockerfile:2:1: .*no such user: ghost/);
    const group = await box.berth(['build', box.context({ Dockerfile: 'FROM busybox:local\nADD --chown=app:ghostgroup f /f\n', f: 'x\n' })]);
    expect(group.code).not.toBe(0);
    expect(group.stderr).toMatch(/Dockerfile:2:1: unable to find group ghostgroup/);
  });

  // llb.WithUser parses `root` as uid 0 before any lookup: no /etc/passwd needed.
  it('and COPY --chown=root works with no /etc/passwd', async () => {
    const ctx = box.context({ Dockerfile: 'FROM scratch\nCOPY --chown=root:root f /f\nCOPY --chown=4321 f /g\n', f: 'x\n' });
    const { out } = await box.buildFs(ctx);
    expect([owner(out, 'f'), owner(out, 'g')]).toEqual(['0:0', '4321:4321']);
  });
});

describe('.dockerignore exceptions, as Docker 26 sends the context', () => {
  // Docker's client sends an excluded directory only for the re-included entries it holds:
  // `**` then `!folder1/file` with no folder1/file leaves folder1 out ("not found").
  it('leave out an excluded directory that holds nothing re-included', async () => {
    const ctx = box.context({
      '.dockerignore': '**\n!folder1/file\n!folder3/file\n',
      'folder1/file': 'a\n', 'folder1/other': 'b\n', 'folder3/other': 'o\n',
      Dockerfile: 'FROM busybox:local\nADD folder1 /f1\nCOPY folder* /all/\n',
    });
    const { out } = await box.buildFs(ctx);
    expect(readdirSync(path.join(out, 'f1'))).toEqual(['file']);
    expect(readdirSync(path.join(out, 'all'))).toEqual(['file']);
    const missing = box.context({ '.dockerignore': '**\n!folder3/file\n', 'folder3/other': 'o\n', Dockerfile: 'FROM busybox:local\nADD folder3 /f3\n' });
    const result = await box.berth(['build', missing]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/"\/folder3": not found/);
  });
});

describe('COPY --link --chown', () => {
  // The reference: --link is "the equivalent of" COPY in a FROM scratch build, and names need
  // /etc/passwd and /etc/group of that root; Docker 26 fails the same way ("invalid user index").
  it('fails for names (an empty root has no passwd) and takes ids and root', async () => {
    const named = box.context({ Dockerfile: 'FROM busybox:local\nCOPY --link --chown=app:app f /f\n', f: 'x\n' });
    const result = await box.berth(['build', named]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/Dockerfile:2:1: .*no such user: app \(COPY --link resolves names without the image's/);
    const ids = box.context({ Dockerfile: 'FROM busybox:local\nCOPY --link --chown=root f /f1\nCOPY --link --chown=1000 f /f2\n', f: 'x\n' });
    const { out } = await box.buildFs(ids);
    expect([owner(out, 'f1'), owner(out, 'f2')]).toEqual(['0:0', '1000:1000']);
  });
});
