import { lstatSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { walkStats, type WalkStats } from './stats.ts';

/** What the walker needs from .dockerignore: whether a path is excluded, and whether a skipped
 * directory could still hold re-included paths (an exception pattern below it). */
export interface ContextFilter {
  excluded(rel: string): boolean;
  /** True when an excluded directory must still be entered because exceptions may match below. */
  mustDescend(rel: string): boolean;
}

export const NO_FILTER: ContextFilter = { excluded: () => false, mustDescend: () => false };

export interface ContextEntry {
  /** Path relative to the context root, `/`-separated, no leading `./`. */
  rel: string;
  stat: WalkStats;
}

/**
 * Entries at or below `startRel` in the context (sorted, parents before children), after the
 * filter. An excluded directory is kept out, but entered when exceptions may re-include children
 * (then the directory itself is listed too, as Docker sends it).
 */
export function walkContext(root: string, filter: ContextFilter, startRel = ''): ContextEntry[] {
  const out: ContextEntry[] = [];
  const visit = (rel: string, stat: WalkStats): void => {
    const isExcluded = rel !== '' && filter.excluded(rel);
    if (stat.isDirectory()) {
      if (isExcluded && !filter.mustDescend(rel)) return;
      const before = out.length;
      if (rel !== '') out.push({ rel, stat });
      const names = readdirSync(path.join(root, rel)).sort();
      for (const name of names) {
        const child = rel ? `${rel}/${name}` : name;
        visit(child, walkStats(lstatSync(path.join(root, child), { bigint: true })));
      }
      // An excluded directory entered only for its exceptions is dropped if nothing came back.
      if (isExcluded && out.length === before + 1) out.pop();
      return;
    }
    if (!isExcluded) out.push({ rel, stat });
  };
  const startStat = walkStats(lstatSync(path.join(root, startRel), { bigint: true }));
  visit(startRel, startStat);
  return out;
}
