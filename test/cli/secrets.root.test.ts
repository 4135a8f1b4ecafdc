/**
 * RUN --mount=type=secret through real builds: files and environment variables from
 * `berth build --secret`, their options, and the proof that a secret's bytes land nowhere in the
 * store or the image (only its id is keyed). Needs root.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSecrets, parseAllow, parseSecretFlag } from '../../src/cli/secrets.ts';
import { makeBuildBox, read, type BuildBox } from '../engine/build-box.ts';

let box: BuildBox;
beforeAll(async () => { box = await makeBuildBox('secrets'); }, 120_000);
afterAll(() => box?.cleanup());

function secretFile(name: string, content: string | Buffer): string {
  const file = path.join(box.dir, name);
  writeFileSync(file, content);
  return file;
}

/** Every regular file below `dir`. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    const stat = lstatSync(file);
    if (stat.isDirectory()) out.push(...filesUnder(file));
    else if (stat.isFile()) out.push(file);
  }
  return out;
}

/** The file's bytes, and for gzip data (compressed layer blobs) its decompressed bytes too. */
function contentsOf(file: string): Buffer[] {
  const raw = readFileSync(file);
  const views = [raw];
  if (raw[0] === 0x1f && raw[1] === 0x8b) views.push(gunzipSync(raw));
  return views;
}

/** Files in a tar archive (ustar, no long-name handling needed for the search). */
function tarMembers(archive: Buffer): Buffer[] {
  const members: Buffer[] = [];
  for (let at = 0; at + 512 <= archive.length;) {
    const header = archive.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break;
    const size = parseInt(header.subarray(124, 136).toString().replace(/\0.*$/, '').trim() || '0', 8);
    members.push(archive.subarray(at + 512, at + 512 + size));
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return members;
}

describe('secrets', () => {
  it('mounts a secret file read-only, 0400 by default, with target, mode, uid and gid', async () => {
    const tok = secretFile('tok', 'token-value');
    const ctx = box.context({
      Dockerfile: [
        'FROM busybox:local',
        'RUN --mount=type=secret,id=tok cat /run/secrets/tok > /copy && stat -c "%a %u:%g" /run/secrets/tok > /mode && (echo x > /run/secrets/tok) 2>/dev/null || echo ro > /ro',
        'RUN --mount=type=secret,id=tok,target=/opt/s/t,mode=0440,uid=1000,gid=1000 stat -c "%a %u:%g" /opt/s/t > /mode2',
        'RUN --mount=type=secret,id=tok,env=TOKEN,target=/f echo "$TOKEN" > /env && cat /f > /both',
        'RUN --mount=type=secret,id=absent test ! -e /run/secrets/absent && echo absent > /absent',
        '',
      ].join('\n'),
    });
    const { out } = await box.buildFs(ctx, ['--secret', `id=tok,src=${tok}`]);
    expect(read(out, 'copy')).toBe('token-value');
    expect(read(out, 'mode')).toBe('400 0:0\n');
    expect(read(out, 'ro')).toBe('ro\n');
    expect(read(out, 'mode2')).toBe('440 1000:1000\n');
    expect(read(out, 'env')).toBe('token-value\n');
    expect(read(out, 'both')).toBe('token-value');
    expect(read(out, 'absent')).toBe('absent\n');
    // The secret file's mount point is gone, and so are the directories made for it (/run/secrets,
    // /opt/s), as BuildKit >= 0.12 removes them (Docker 26; 20.10 left the directories).
    expect(existsSync(path.join(out, 'run/secrets'))).toBe(false);
    expect(existsSync(path.join(out, 'opt'))).toBe(false);
    expect(existsSync(path.join(out, 'run'))).toBe(false);
  });

  it('fails a required secret that was not given, at the mount flag', async () => {
    const ctx = box.context({ Dockerfile: 'FROM busybox:local\nRUN --mount=type=secret,id=needed,required=true true\n' });
    const result = await box.berth(['build', ctx]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/Dockerfile:2:\d+: secret needed: not found/);
  });

  it('keys the step by the secret id, not its bytes', async () => {
    const ctx = box.context({ Dockerfile: 'FROM busybox:local\nRUN --mount=type=secret,id=k,env=K echo "$K" | wc -c > /len\n' });
    const first = await box.buildFs(ctx, ['--secret', 'id=k,env=K_VALUE'], { K_VALUE: 'one' });
    expect(read(first.out, 'len')).toBe('4\n');
    const second = await box.buildFs(ctx, ['--secret', 'id=k,env=K_VALUE'], { K_VALUE: 'a different value' });
    expect(second.log).toMatch(/#\d+ CACHED/);
    expect(read(second.out, 'len')).toBe('4\n');
  });

  it('never writes the bytes anywhere in the store or the image', async () => {
    const fileSecret = `file-${randomBytes(24).toString('hex')}`;
    const envSecret = `env-${randomBytes(24).toString('hex')}`;
    const tok = secretFile('unique', fileSecret);
    const ctx = box.context({
      Dockerfile: [
        'FROM busybox:local AS build',
        'RUN --mount=type=secret,id=f --mount=type=secret,id=e,env=E sha256sum /run/secrets/f > /digest && echo "$E" | wc -c > /len',
        'RUN --mount=type=secret,id=f,target=/etc/app/token,required=true test -s /etc/app/token',
        'FROM busybox:local',
        'COPY --from=build /digest /len /',
        '',
      ].join('\n'),
    });
    const archive = path.join(box.dir, 'image.tar');
    const built = await box.berth(['build', '--progress', 'plain', '--secret', `id=f,src=${tok}`, '--secret', 'id=e,env=E_SRC', '-t', 'sec/test', '-o', `type=docker,dest=${archive}`, ctx], { E_SRC: envSecret });
    expect(built.code).toBe(0);
    const { out } = await box.buildFs(ctx, ['--secret', `id=f,src=${tok}`, '--secret', 'id=e,env=E_SRC'], { E_SRC: envSecret });
    expect(read(out, 'len')).toBe(`${envSecret.length + 1}\n`);
    const needles = [fileSecret, envSecret].map((s) => Buffer.from(s));
    const files = filesUnder(box.root);
    expect(files.some((f) => f.includes(`${path.sep}blobs${path.sep}`))).toBe(true);
    // The search works: the digest the build wrote is found in a layer blob.
    const digest = Buffer.from(createHash('sha256').update(fileSecret).digest('hex'));
    expect(files.some((f) => f.includes(`${path.sep}blobs${path.sep}`) && contentsOf(f).some((v) => v.includes(digest)))).toBe(true);
    for (const file of files) {
      for (const view of contentsOf(file)) for (const needle of needles) expect(view.includes(needle), file).toBe(false);
    }
    // The exported image: every member of the archive, layers decompressed.
    const members = tarMembers(readFileSync(archive));
    expect(members.some((m) => [m, ...(m[0] === 0x1f ? [gunzipSync(m)] : [])].some((v) => v.includes(digest)))).toBe(true);
    for (const member of members) {
      const views = [member];
      if (member[0] === 0x1f && member[1] === 0x8b) views.push(gunzipSync(member));
      for (const view of views) {
        for (const inner of [view, ...tarMembers(view)]) for (const needle of needles) expect(inner.includes(needle)).toBe(false);
      }
    }
    for (const command of [['history', '--no-trunc', 'sec/test'], ['inspect', 'sec/test']]) {
      const shown = await box.berth(command);
      expect(shown.stdout + shown.stderr).not.toContain(fileSecret);
      expect(shown.stdout + shown.stderr).not.toContain(envSecret);
    }
    expect(built.stderr).not.toContain(fileSecret);
    expect(built.stderr).not.toContain(envSecret);
  });
});

describe('--secret and --allow flags', () => {
  it('parses the forms buildx accepts', () => {
    expect(parseSecretFlag('id=a,src=/f')).toEqual({ id: 'a', file: '/f' });
    expect(parseSecretFlag('id=a,source=/f')).toEqual({ id: 'a', file: '/f' });
    expect(parseSecretFlag('id=a,env=V')).toEqual({ id: 'a', env: 'V' });
    expect(parseSecretFlag('type=env,id=a,src=V')).toEqual({ id: 'a', env: 'V' });
    expect(parseSecretFlag('type=file,id=a')).toEqual({ id: 'a', file: 'a' });
    expect(parseSecretFlag('id=a')).toEqual({ id: 'a' });
    expect(() => parseSecretFlag('src=/f')).toThrow(/an id is required/);
    expect(() => parseSecretFlag('id=a,bogus=1')).toThrow(/unexpected key "bogus"/);
    expect(() => parseSecretFlag('id=a,type=ssh')).toThrow(/type must be file or env/);
  });

  it('loads files and variables; an unset variable leaves the secret absent, a missing file is an error', () => {
    const file = secretFile('loaded', Buffer.from([0, 1, 2, 255]));
    const env = { FROM_ENV: 'v', a: 'by-id' };
    const secrets = loadSecrets([`id=f,src=${file}`, 'id=e,env=FROM_ENV', 'id=u,env=UNSET', 'id=a'], env);
    expect(secrets.get('f')).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(secrets.get('e')?.toString()).toBe('v');
    expect(secrets.has('u')).toBe(false);
    expect(secrets.get('a')?.toString()).toBe('by-id');
    expect(() => loadSecrets(['id=m,src=/nonexistent/secret'], env)).toThrow(/secret m: cannot read \/nonexistent\/secret \(ENOENT\)/);
  });

  it('accepts known entitlements only', () => {
    expect(parseAllow(['security.insecure', 'network.host'])).toEqual(['security.insecure', 'network.host']);
    expect(() => parseAllow(['bogus'])).toThrow(/unknown entitlement "bogus"/);
  });
});
