import { describe, expect, it } from 'vitest';
import { distributionOf, parseOutput } from '../../src/cli/outputs.ts';

describe('parseOutput', () => {
  it('reads every key of the image exporters', () => {
    expect(parseOutput('type=registry,name=r.example/a:1,compression=zstd,compression-level=12,force-compression=true,oci-mediatypes=false')).toMatchObject({
      type: 'registry', names: ['r.example/a:1'], push: true, compression: 'zstd', compressionLevel: 12, forceCompression: true, ociMediaTypes: false,
    });
    expect(parseOutput('type=image,"name=a:1,b:2",push=true')).toMatchObject({ type: 'image', names: ['a:1', 'b:2'], push: true });
    expect(parseOutput('type=image')).toMatchObject({ push: false, names: [], compression: undefined });
    expect(parseOutput('type=docker,dest=-,compression=uncompressed')).toMatchObject({ type: 'docker', dest: '-', compression: 'none' });
  });

  it('takes - as a tar on standard output and a bare path as a local directory', () => {
    expect(parseOutput('-')).toMatchObject({ type: 'tar', dest: '-' });
    expect(parseOutput('out/dir')).toMatchObject({ type: 'local', dest: 'out/dir' });
  });

  it('defaults: gzip with OCI types, Docker types for type=docker, oci-mediatypes overrides', () => {
    expect(distributionOf(parseOutput('type=registry'))).toMatchObject({ compression: 'gzip', family: 'oci' });
    expect(distributionOf(parseOutput('type=docker,dest=x'))).toMatchObject({ compression: 'gzip', family: 'docker' });
    expect(distributionOf(parseOutput('type=oci,dest=x'))).toMatchObject({ compression: 'gzip', family: 'oci' });
    expect(distributionOf(parseOutput('type=docker,dest=x,oci-mediatypes=true'))).toMatchObject({ family: 'oci' });
  });

  it('names the valid keys for an unknown one, and refuses bad values', () => {
    expect(() => parseOutput('type=docker,dest=x,bogus=1')).toThrow('unknown key "bogus" for output type=docker (valid: type, dest, name, compression, compression-level, force-compression, oci-mediatypes, rewrite-timestamp, annotation.KEY, annotation-manifest.KEY, annotation-manifest-descriptor.KEY)');
    expect(() => parseOutput('type=image,dest=x')).toThrow(/unknown key "dest" for output type=image/);
    expect(() => parseOutput('type=local,dest=x,compression=gzip')).toThrow(/unknown key "compression" for output type=local \(valid: type, dest\)/);
    expect(() => parseOutput('type=tar,dest=x,push=true')).toThrow(/unknown key "push"/);
    expect(() => parseOutput('type=registry,compression=brotli')).toThrow('invalid compression "brotli" in --output (gzip, zstd or uncompressed)');
    expect(() => parseOutput('type=registry,compression-level=10')).toThrow(/gzip compression level must be 0 to 9/);
    expect(() => parseOutput('type=registry,compression=zstd,compression-level=23')).toThrow(/zstd compression level must be 1 to 22/);
    expect(() => parseOutput('type=registry,compression-level=x')).toThrow(/invalid compression-level "x"/);
    expect(() => parseOutput('type=image,push=maybe')).toThrow('invalid push "maybe" in --output (true or false)');
    expect(() => parseOutput('type=image,force-compression=1')).toThrow(/invalid force-compression/);
    expect(() => parseOutput('type=local,dest=-')).toThrow(/cannot write to standard output/);
    expect(() => parseOutput('type=oci')).toThrow(/needs dest=<path>/);
    expect(() => parseOutput('type=ftp,dest=x')).toThrow(/unsupported output type "ftp"/);
  });
});
