import { describe, expect, it } from 'vitest';
import { parseKeyValues, splitCsv } from '../../src/text/csv.ts';
import { formatSize, isoSeconds, parseDuration, parseGoDuration, parseSize } from '../../src/text/units.ts';

describe('durations', () => {
  it('reads Go durations in nanoseconds', () => {
    expect(parseGoDuration('1h30m')).toBe(5400e9);
    expect(parseGoDuration('1.5s')).toBe(1.5e9);
    expect(parseGoDuration('-2ms')).toBe(-2e6);
    expect(parseGoDuration('0')).toBe(0);
    for (const bad of ['', '5', '1d', 's', '1h 2m']) expect(parseGoDuration(bad), bad).toBeUndefined();
  });

  it('reads cache ages in milliseconds, days included, never negative', () => {
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('7d')).toBe(7 * 86_400_000);
    expect(parseDuration(' 90m ')).toBe(5_400_000);
    expect(parseDuration('-1h')).toBeUndefined();
    expect(parseDuration('soon')).toBeUndefined();
  });
});

describe('sizes', () => {
  it('reads sizes as go-units RAMInBytes does (binary units)', () => {
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize('512m')).toBe(512 * 1024 ** 2);
    expect(parseSize('10GB')).toBe(10 * 1024 ** 3);
    expect(parseSize('2GiB')).toBe(2 * 1024 ** 3);
    expect(parseSize('1.5k')).toBe(1536);
    for (const bad of ['', 'm', '10 XB', '-1g']) expect(parseSize(bad), bad).toBeUndefined();
  });

  it('prints sizes as docker images does (decimal, three digits)', () => {
    expect(formatSize(0)).toBe('0B');
    expect(formatSize(999)).toBe('999B');
    expect(formatSize(77_834_000)).toBe('77.8MB');
    expect(formatSize(4_260_000)).toBe('4.26MB');
    expect(formatSize(1_200_000_000)).toBe('1.2GB');
  });

  it('writes times to the second', () => {
    expect(isoSeconds(new Date('2024-01-02T03:04:05.678Z'))).toBe('2024-01-02T03:04:05Z');
  });
});

describe('CSV flags', () => {
  it('splits fields as Go encoding/csv does, a quoted field keeping its commas', () => {
    expect(splitCsv('type=bind,"source=a,b",target=/x')).toEqual(['type=bind', 'source=a,b', 'target=/x']);
    expect(splitCsv('"say ""hi""",x')).toEqual(['say "hi"', 'x']);
  });

  it('gives key=value pairs and bare keys, skipping empty fields', () => {
    expect(parseKeyValues('type=registry,,"ref=r:1,2",push')).toEqual([
      { key: 'type', value: 'registry' }, { key: 'ref', value: 'r:1,2' }, { key: 'push', value: undefined },
    ]);
  });
});
