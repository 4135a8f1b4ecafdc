import { describe, expect, it } from 'vitest';
import { parseAnnotationFlags } from '../../src/cli/annotations.ts';
import { distributionOf, parseOutput, withAnnotationFlags } from '../../src/cli/outputs.ts';

const TITLE = 'org.opencontainers.image.title';

describe('-o annotation keys (BuildKit image exporters)', () => {
  it('puts annotation.* and annotation-manifest.* on the manifest, annotation-manifest-descriptor.* on its descriptor', () => {
    const out = parseOutput(`type=oci,dest=x,annotation.${TITLE}=Target,annotation-manifest.a=1,annotation-manifest-descriptor.b=2`);
    expect(out.annotations).toEqual({ manifest: { [TITLE]: 'Target', a: '1' }, manifestDescriptor: { b: '2' } });
    expect(distributionOf(out).annotations).toEqual({ [TITLE]: 'Target', a: '1' });
    for (const type of ['image', 'registry', 'docker,dest=x']) expect(parseOutput(`type=${type},annotation.k=v`).annotations?.manifest).toEqual({ k: 'v' });
  });

  it('keeps values with = and commas (quoted) as they are', () => {
    expect(parseOutput('type=image,"annotation.url=https://x/?a=b,c"').annotations?.manifest).toEqual({ url: 'https://x/?a=b,c' });
    expect(parseOutput('type=image').annotations).toBeUndefined();
  });

  it('takes the [linux/amd64] qualifier and refuses any other platform, naming it', () => {
    expect(parseOutput('type=image,annotation[linux/amd64].k=v,annotation-manifest-descriptor[linux/amd64].d=w').annotations)
      .toEqual({ manifest: { k: 'v' }, manifestDescriptor: { d: 'w' } });
    expect(() => parseOutput('type=image,annotation[linux/arm64].k=v')).toThrow('annotation for platform "linux/arm64" in --output key "annotation[linux/arm64].k": berth builds linux/amd64 images only');
    expect(() => parseOutput('type=oci,dest=x,annotation-manifest[windows/amd64].k=v')).toThrow(/platform "windows\/amd64"/);
  });

  it('fails index annotations as BuildKit fails them for a single-platform export', () => {
    for (const key of ['annotation-index.k', 'annotation-index-descriptor.k', 'annotation-index[linux/amd64].k']) {
      expect(() => parseOutput(`type=oci,dest=x,${key}=v`)).toThrow(/^index annotations not supported for single platform export .*writes no image index; annotate the manifest \(annotation\.k\)/);
    }
  });

  it('refuses an unknown annotation type, a malformed key and annotations on outputs without a manifest', () => {
    expect(() => parseOutput('type=image,annotation-config.k=v')).toThrow('unknown annotation type "config" in --output key "annotation-config.k" (manifest, manifest-descriptor, index, index-descriptor)');
    expect(() => parseOutput('type=image,annotation=v')).toThrow(/invalid annotation --output key "annotation": want annotation\[-TYPE\]\[\[PLATFORM\]\]\.KEY=VALUE/);
    expect(() => parseOutput('type=image,annotation.=v')).toThrow(/annotation with an empty key/);
    expect(() => parseOutput('type=local,dest=x,annotation.k=v')).toThrow('unknown key "annotation.k" for output type=local (valid: type, dest)');
    expect(() => parseOutput('type=image,annotations.k=v')).toThrow(/unknown key "annotations.k" for output type=image \(valid: .*annotation\.KEY, annotation-manifest\.KEY, annotation-manifest-descriptor\.KEY\)/);
  });
});

describe('--annotation (buildx)', () => {
  it('reads KEY=V, TYPE:KEY=V, a comma list of types and a platform qualifier', () => {
    expect(parseAnnotationFlags(['a=1', 'manifest:b=2', 'manifest-descriptor:c=3', 'manifest,manifest-descriptor:d=4', 'manifest[linux/amd64]:e=x=y', 'f='])).toEqual({
      manifest: { a: '1', b: '2', d: '4', e: 'x=y', f: '' },
      manifestDescriptor: { c: '3', d: '4' },
    });
  });

  it('refuses what buildx refuses, and index types as BuildKit does for one platform', () => {
    expect(() => parseAnnotationFlags(['novalue'])).toThrow('invalid annotation --annotation "novalue": want [TYPE:]KEY=VALUE');
    expect(() => parseAnnotationFlags(['layer:k=v'])).toThrow('unknown annotation type "layer" in --annotation "layer:k=v" (manifest, manifest-descriptor, index, index-descriptor)');
    expect(() => parseAnnotationFlags(['Manifest:k=v'])).toThrow(/invalid annotation type "Manifest"/);
    expect(() => parseAnnotationFlags(['index,manifest:k=v'])).toThrow(/^index annotations not supported for single platform export/);
    expect(() => parseAnnotationFlags(['manifest[linux/s390x]:k=v'])).toThrow(/annotation for platform "linux\/s390x" in --annotation "manifest\[linux\/s390x\]:k=v": berth builds linux\/amd64 images only/);
  });

  it('goes to every output that writes a manifest, over the same key in -o; with no -o, to the store', () => {
    const flags = parseAnnotationFlags(['k=flag', 'manifest-descriptor:d=1']);
    const outputs = withAnnotationFlags([parseOutput('type=oci,dest=x,annotation.k=o,annotation.o=2'), parseOutput('type=local,dest=y')], flags);
    expect(outputs[0].annotations).toEqual({ manifest: { k: 'flag', o: '2' }, manifestDescriptor: { d: '1' } });
    expect(outputs[1].annotations).toBeUndefined();
    expect(withAnnotationFlags([], flags)).toMatchObject([{ type: 'image', annotations: flags }]);
    expect(withAnnotationFlags([], parseAnnotationFlags([]))).toEqual([]);
  });
});
