/**
 * The house's layering, checked from the imports: every module of src/ belongs to an area, every
 * area has a rank, and a module imports only from areas ranked below its own (or from its own
 * area). The front end (Dockerfile to plan) imports nothing of the back end. README's "Design in
 * brief" draws the same order. A new area must be given a rank here: the test fails until it is.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(import.meta.dirname, '../../src');

/** Lowest first. Areas of one rank do not import each other. */
const RANKS: Record<string, number> = {
  // Leaves: no berth imports but these.
  sys: 0, text: 0, source: 0, solve: 0,
  // The front end: Dockerfile text to the plan.
  syntax: 1, shell: 1,
  instructions: 2,
  plan: 3,
  // The back end, from the store's files up to the build.
  'store/layout': 3, 'store/sweep': 4,
  content: 5,
  layer: 6, context: 6, 'store/lock': 6, 'store/parse-cache': 6,
  fsview: 7, image: 7, exec: 7,
  snapshot: 8, progress: 8, lint: 8,
  cache: 9, container: 9,
  copy: 10, registry: 10,
  mounts: 11,
  steps: 12, 'store/gc': 12,
  engine: 13,
  cli: 14,
};

const FRONT_END = new Set(['syntax', 'shell', 'instructions', 'plan']);
/** What the front end may use besides itself. */
const FRONT_END_MAY_USE = new Set(['sys', 'text', 'source']);

/** A module's area: its folder under src/, or `store/<file>` (the store folder spans the stack). */
function areaOf(file: string): string {
  const rel = path.relative(SRC, file).split(path.sep);
  if (rel[0] === 'store') return `store/${rel[1].replace(/\.ts$/, '')}`;
  return rel[0];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

interface Edge { from: string; to: string; fromArea: string; toArea: string }

function importsOf(file: string): Edge[] {
  const text = readFileSync(file, 'utf8');
  const edges: Edge[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)) {
    const target = path.resolve(path.dirname(file), m[1] ?? m[2]);
    if (!target.startsWith(`${SRC}${path.sep}`)) continue;
    const fromArea = areaOf(file);
    const toArea = areaOf(target);
    if (fromArea !== toArea) edges.push({ from: path.relative(SRC, file), to: path.relative(SRC, target), fromArea, toArea });
  }
  return edges;
}

const edges = sourceFiles(SRC).flatMap(importsOf);

describe('layering of src/', () => {
  it('gives every area a rank', () => {
    const areas = new Set(sourceFiles(SRC).map(areaOf));
    expect([...areas].filter((a) => RANKS[a] === undefined)).toEqual([]);
  });

  it('has every import point down the stack', () => {
    const upward = edges.filter((e) => RANKS[e.toArea] >= RANKS[e.fromArea]).map((e) => `${e.from} -> ${e.to}`);
    expect(upward).toEqual([]);
  });

  it('keeps the front end free of the back end', () => {
    const leaks = edges.filter((e) => FRONT_END.has(e.fromArea) && !FRONT_END.has(e.toArea) && !FRONT_END_MAY_USE.has(e.toArea));
    expect(leaks.map((e) => `${e.from} -> ${e.to}`)).toEqual([]);
  });

  it('sees the imports it checks (the scan itself works)', () => {
    expect(edges.some((e) => e.from === 'engine/build.ts' && e.toArea === 'steps')).toBe(true);
    expect(edges.some((e) => e.from === 'cli/build.ts' && e.toArea === 'engine')).toBe(true);
  });
});
