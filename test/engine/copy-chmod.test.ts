import { describe, expect, it } from 'vitest';
import { parseChmod } from '../../src/engine/chmod.ts';
import { BuildError } from '../../src/source/index.ts';

const range = { file: 'Dockerfile', start: { line: 1, column: 1 }, end: { line: 1, column: 5 } };
const chmod = (spec: string) => parseChmod(spec, range, 'COPY x y\n');

describe('--chmod', () => {
  it('takes octal modes whole, special bits included (newer BuildKit; 20.10 dropped them)', () => {
    expect(chmod('755')(0o644, false)).toBe(0o755);
    expect(chmod('0640')(0o4755, false)).toBe(0o640);
    expect(chmod('4755')(0o644, false)).toBe(0o4755);
  });

  it('refuses numbers that are not octal or above 07777', () => {
    expect(() => chmod('789')).toThrow(/between 0 and 07777/);
    expect(() => chmod('17777')).toThrow(BuildError);
  });

  it('applies symbolic modes as chmod(1) does', () => {
    const rX = chmod('u=rwX,go=rX');
    expect(rX(0o600, true)).toBe(0o755);
    expect(rX(0o600, false)).toBe(0o644);
    expect(rX(0o700, false)).toBe(0o755);
    expect(chmod('+x')(0o644, false)).toBe(0o755);
    expect(chmod('g=u')(0o640, false)).toBe(0o660);
    expect(chmod('o-r,u+s')(0o644, false)).toBe(0o4640);
    expect(chmod('a-w')(0o666, false)).toBe(0o444);
    expect(chmod('u+r-w')(0o200, false)).toBe(0o400);
    expect(chmod('+t')(0o777, true)).toBe(0o1777);
    expect(chmod('g+s')(0o755, true)).toBe(0o2755);
    expect(chmod('go=')(0o777, false)).toBe(0o700);
  });

  it('refuses what is neither', () => {
    expect(() => chmod('bogus')).toThrow(/invalid chmod parameter: 'bogus'/);
    expect(() => chmod('u+q')).toThrow(BuildError);
  });
});
