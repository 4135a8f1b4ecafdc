import { describe, expect, it } from 'vitest';
import { familiarName, formatReference, isReference, normalizeName, parseReference } from '../../src/image/reference.ts';
import { BuildError } from '../../src/source/error.ts';

const HEX = 'a'.repeat(64);

describe('image references', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:local', 'docker.io/library/busybox:local'],
    ['library/busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['differ/p01', 'docker.io/differ/p01:latest'],
    ['differ/p01:latest', 'docker.io/differ/p01:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/library/busybox:x', 'docker.io/library/busybox:x'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/app:1.0', 'localhost:5000/app:1.0'],
    ['registry.example.com/team/app/sub:v_1.2-rc', 'registry.example.com/team/app/sub:v_1.2-rc'],
    ['Example.COM/app', 'Example.COM/app:latest'],
    ['a__b-c---d/e.f_g', 'docker.io/a__b-c---d/e.f_g:latest'],
    [`busybox@sha256:${HEX}`, `docker.io/library/busybox@sha256:${HEX}`],
    [`busybox:1@sha256:${HEX}`, `docker.io/library/busybox:1@sha256:${HEX}`],
    ['[::1]:5000/app', '[::1]:5000/app:latest'],
  ])('%s → %s', (input, expected) => {
    expect(normalizeName(input)).toBe(expected);
  });

  it.each([
    ['docker.io/library/busybox:local', 'busybox:local'],
    ['docker.io/differ/p01:latest', 'differ/p01:latest'],
    ['localhost:5000/app:1', 'localhost:5000/app:1'],
    ['docker.io/library/a/b:1', 'library/a/b:1'],
    [`docker.io/library/busybox@sha256:${HEX}`, `busybox@sha256:${HEX}`],
  ])('familiar form of %s is %s', (input, expected) => {
    expect(familiarName(input)).toBe(expected);
  });

  it.each([
    ['', /empty/],
    ['Busybox', /must be lowercase/],
    ['differ/P01', /must be lowercase/],
    [HEX, /hexadecimal/],
    ['busybox:-bad', /bad tag/],
    ['busybox:' + 'x'.repeat(129), /bad tag/],
    ['busy--box_', /bad repository name/],
    ['a//b', /bad repository name/],
    ['busybox@sha256:123', /bad digest/],
    ['bad_host.com:port/app', /bad registry host/],
  ])('rejects %j', (input, message) => {
    expect(() => parseReference(input)).toThrow(BuildError);
    expect(() => parseReference(input)).toThrow(message);
    expect(isReference(input)).toBe(false);
  });

  it('keeps a parsed reference round-trippable', () => {
    const ref = parseReference('localhost:5000/ns/app:tag');
    expect(ref).toEqual({ domain: 'localhost:5000', path: 'ns/app', tag: 'tag' });
    expect(formatReference(ref)).toBe('localhost:5000/ns/app:tag');
    expect(parseReference('busybox')).toEqual({ domain: 'docker.io', path: 'library/busybox' });
  });
});
