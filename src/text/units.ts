/**
 * Sizes and durations as Docker's tools read and print them, in one place: Go's
 * time.ParseDuration (HEALTHCHECK flags, prune's `until=`), go-units' RAMInBytes (binary units:
 * `--keep-storage`, tmpfs `size=`) and HumanSizeWithPrecision (decimal units: `berth images`,
 * `berth du`), and the padded columns their tables use.
 */

const DURATION_UNITS: Record<string, number> = {
  ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9,
};

/** Go's time.ParseDuration, in nanoseconds; undefined when malformed. */
export function parseGoDuration(text: string): number | undefined {
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') return undefined;
  let total = 0;
  const part = /^(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest !== '') {
    const m = part.exec(rest);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    rest = rest.slice(m[0].length);
  }
  return sign * Math.round(total);
}

/**
 * A non-negative duration in milliseconds: Go's syntax (`90m`, `1h30m`), and whole days (`7d`),
 * which people write for cache ages.
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  const days = /^(\d+(?:\.\d+)?)d$/.exec(trimmed);
  if (days) return Number(days[1]) * 86_400_000;
  const ns = parseGoDuration(trimmed);
  return ns === undefined || ns < 0 ? undefined : ns / 1e6;
}

/** go-units' RAMInBytes: `512m`, `10GB`, `2GiB`, `1.5g`, `4096` (every unit binary). */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$/i.exec(text.trim());
  if (!m) return undefined;
  const power = m[2] ? ' kmgtp'.indexOf(m[2].toLowerCase()) : 0;
  return Math.round(Number(m[1]) * 1024 ** power);
}

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];

/** go-units' HumanSizeWithPrecision: decimal units, `precision` significant digits (`77.8MB`). */
export function formatSize(bytes: number, precision = 3): string {
  let n = bytes;
  let unit = 0;
  while (n >= 1000 && unit < DECIMAL_UNITS.length - 1) {
    n /= 1000;
    unit++;
  }
  return `${Number(n.toPrecision(precision))}${DECIMAL_UNITS[unit]}`;
}

/** RFC 3339 in UTC to the second, as BuildKit writes history and `created` times. */
export function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Rows as left-aligned columns `gap` spaces apart (as Go's tabwriter pads them), trailing space cut. */
export function formatColumns(rows: ReadonlyArray<readonly string[]>, gap: number): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] + gap))).join('').trimEnd()).join('\n') + '\n';
}
