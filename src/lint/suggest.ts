import { editDistance } from '../source/suggest.ts';

/**
 * BuildKit's suggest.Search: the first option closest to `name` at an edit distance under 3, none
 * when an option equals it. Case-insensitive search keeps the casing of `name` where it can.
 */
export function suggestName(name: string, options: readonly string[], caseSensitive: boolean): string | undefined {
  const wanted = caseSensitive ? name : name.toLowerCase();
  let match: string | undefined;
  let best = 3;
  for (const option of options) {
    const candidate = caseSensitive ? option : option.toLowerCase();
    if (candidate === wanted) return undefined;
    const d = editDistance(wanted, candidate);
    if (d < best) {
      match = option;
      best = d;
    }
  }
  return match;
}
