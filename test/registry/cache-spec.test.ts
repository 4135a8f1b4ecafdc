import { describe, expect, it } from 'vitest';
import { DEFAULT_CACHE_MOUNTS_MAX_BYTES, parseCacheMountIds, parseCacheSpec } from '../../src/registry/cache-spec.ts';

describe('cache mount options of --cache-to / --cache-from', () => {
  it('leaves cacheMounts out when no cache-mount key is given', () => {
    expect(parseCacheSpec('type=registry,ref=localhost:5000/app:cache', 'import')).toEqual({ location: { type: 'registry', ref: 'localhost:5000/app:cache' }, mode: 'min' });
  });

  it('reads cache-mounts=true with the default 1 GiB limit', () => {
    expect(parseCacheSpec('type=registry,ref=r/app:c,mode=max,cache-mounts=true', 'export')).toEqual({
      location: { type: 'registry', ref: 'r/app:c' }, mode: 'max', layers: { compression: 'gzip' }, cacheMounts: { enabled: true, maxBytes: DEFAULT_CACHE_MOUNTS_MAX_BYTES },
    });
    expect(DEFAULT_CACHE_MOUNTS_MAX_BYTES).toBe(1024 ** 3);
    expect(parseCacheSpec('type=local,src=/tmp/c,cache-mounts=false', 'import').cacheMounts).toEqual({ enabled: false, maxBytes: DEFAULT_CACHE_MOUNTS_MAX_BYTES });
  });

  it('reads the size limit as go-units sizes', () => {
    expect(parseCacheSpec('type=local,dest=/tmp/c,cache-mounts=true,cache-mounts-max-size=512m', 'export').cacheMounts?.maxBytes).toBe(512 * 1024 ** 2);
    expect(parseCacheSpec('type=local,dest=/tmp/c,cache-mounts=true,cache-mounts-max-size=2GiB', 'export').cacheMounts?.maxBytes).toBe(2 * 1024 ** 3);
    expect(() => parseCacheSpec('type=local,dest=/tmp/c,cache-mounts-max-size=lots', 'export')).toThrow(/invalid cache-mounts-max-size "lots"/);
  });

  it('splits cache-mount-ids on ";" and, inside a quoted CSV field, on ","', () => {
    expect(parseCacheSpec('type=local,dest=/d,cache-mounts=true,cache-mount-ids=apt;npm', 'export').cacheMounts?.ids).toEqual(['apt', 'npm']);
    expect(parseCacheSpec('type=local,dest=/d,cache-mounts=true,"cache-mount-ids=apt,npm"', 'export').cacheMounts?.ids).toEqual(['apt', 'npm']);
    expect(parseCacheMountIds(' /root/.cache ; apt;apt;')).toEqual(['/root/.cache', 'apt']);
    expect(() => parseCacheMountIds(';')).toThrow(/at least one id/);
  });

  it('refuses a cache-mounts value that is not a boolean', () => {
    expect(() => parseCacheSpec('type=local,dest=/d,cache-mounts=yes', 'export')).toThrow(/invalid cache-mounts "yes" in --cache-to \(true or false\)/);
  });

  it('names the valid keys when one is unknown', () => {
    expect(() => parseCacheSpec('type=registry,ref=r/a:c,cache-mount=true', 'export')).toThrow(/unknown key "cache-mount" for --cache-to type=registry \(valid: type, ref, mode, .*cache-mounts, cache-mounts-max-size, cache-mount-ids\)/);
    expect(() => parseCacheSpec('type=registry,ref=r/a:c,compression=zstd', 'import')).toThrow(/unknown key "compression" for --cache-from/);
  });

  it("accepts buildx's oci-mediatypes and image-manifest, and reads ignore-error", () => {
    expect(parseCacheSpec('type=registry,ref=r/a:c,oci-mediatypes=true,image-manifest=true', 'export')).toEqual({ location: { type: 'registry', ref: 'r/a:c' }, mode: 'min', layers: { compression: 'gzip' } });
    expect(parseCacheSpec('type=registry,ref=r/a:c,ignore-error=true', 'export').ignoreError).toBe(true);
    expect(parseCacheSpec('type=registry,ref=r/a:c,ignore-error=false', 'export').ignoreError).toBeUndefined();
  });
});
