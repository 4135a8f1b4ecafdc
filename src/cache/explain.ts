/**
 * Why a step missed the cache. Every step built is remembered with the facts that went into its
 * key (instruction text, base image, parent key, environment, the rest of its options, and for a
 * COPY from the context its files), under its key, and a "slot" (the same Dockerfile, stage and
 * step number) points at the newest one. When the step misses next time, the new facts are held
 * against that record and the differences named: which files of a COPY were added, removed or
 * changed (content, mode, owner), which build arg or env value, the base image, the instruction
 * text, or "no earlier record". A hit writes nothing, so a no-op build costs no more than before.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../content/store.ts';

export interface StepFacts {
  text: string;
  /** The stage's base (an image id, `scratch`, or a stage). */
  base?: string;
  parentKey: string;
  /** `K=V` entries the step keyed (RUN: its environment with build args). */
  env?: string[];
  /** Everything else keyed, as JSON. */
  options: string;
  /** COPY from the context: path -> `kind mode uid:gid digest`. */
  files?: Record<string, string>;
  filesTruncated?: boolean;
}

export function slotOf(parts: { dockerfile: string; contextDir?: string; stage: string; step: number }): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

const factsFile = (dir: string, key: string) => path.join(dir, `${key.replace(/^sha256:/, '')}.json`);
const slotFile = (dir: string, slot: string) => path.join(dir, 'slots', slot);

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Remembers a built step's facts and makes it its slot's newest record. */
export async function rememberFacts(dir: string, slot: string, key: string, facts: StepFacts): Promise<void> {
  await writeFileAtomic(factsFile(dir, key), JSON.stringify(facts));
  await writeFileAtomic(slotFile(dir, slot), key);
}

function envChanges(before: string[] = [], after: string[] = []): string[] {
  const map = (entries: string[]) => new Map(entries.map((e) => [e.slice(0, Math.max(0, e.indexOf('='))) || e, e.slice(e.indexOf('=') + 1)]));
  const was = map(before);
  const now = map(after);
  const out: string[] = [];
  for (const [name, value] of now) {
    if (!was.has(name)) out.push(`${name} is new (${JSON.stringify(value)})`);
    else if (was.get(name) !== value) out.push(`${name} changed: ${JSON.stringify(was.get(name))} -> ${JSON.stringify(value)}`);
  }
  for (const name of was.keys()) if (!now.has(name)) out.push(`${name} is gone`);
  return out;
}

/** What differs between two lines of a manifest: `content`, `mode`, `owner`, `type`. */
function fileChange(before: string, after: string): string {
  const [k1, m1, o1, d1] = before.split(' ');
  const [k2, m2, o2, d2] = after.split(' ');
  const parts: string[] = [];
  if (k1 !== k2) parts.push(`type ${k1} -> ${k2}`);
  if (d1 !== d2 && k1 === k2) parts.push(k1 === 'link' ? 'link target' : 'content');
  if (m1 !== m2) parts.push(`mode ${m1} -> ${m2}`);
  if (o1 !== o2) parts.push(`owner ${o1} -> ${o2}`);
  return parts.join(', ');
}

const SHOWN_FILES = 10;

function fileChanges(before: StepFacts, after: StepFacts): string[] {
  if (!before.files || !after.files) return [];
  const out: string[] = [];
  for (const [name, line] of Object.entries(after.files)) {
    const old = before.files[name];
    if (old === undefined) out.push(`file ${name} added`);
    else if (old !== line) out.push(`file ${name}: ${fileChange(old, line)}`);
  }
  for (const name of Object.keys(before.files)) if (!(name in after.files)) out.push(`file ${name} removed`);
  const shown = out.slice(0, SHOWN_FILES);
  if (out.length > SHOWN_FILES) shown.push(`and ${out.length - SHOWN_FILES} more files`);
  if (shown.length === 0 && (before.filesTruncated || after.filesTruncated)) shown.push('files changed beyond the first listed ones');
  return shown;
}

/** The reasons a step with `facts` missed, against its slot's newest record. */
export function explainMiss(dir: string, slot: string, facts: StepFacts): string[] {
  let key: string | undefined;
  try {
    key = readFileSync(slotFile(dir, slot), 'utf8');
  } catch {
    key = undefined;
  }
  const before = key ? readJson<StepFacts>(factsFile(dir, key)) : undefined;
  if (!before) return ['no earlier record of this step'];
  const reasons: string[] = [];
  if (before.text !== facts.text) reasons.push(`the instruction changed (was: ${before.text})`);
  if (before.base !== facts.base) reasons.push(`the base image changed: ${before.base ?? 'none'} -> ${facts.base ?? 'none'}`);
  else if (before.parentKey !== facts.parentKey) reasons.push('an earlier step of this stage (or a stage it uses) changed');
  reasons.push(...envChanges(before.env, facts.env).map((c) => `build arg or env ${c}`));
  reasons.push(...fileChanges(before, facts));
  if (reasons.length === 0 && before.options !== facts.options) reasons.push('its options changed (mounts, flags, user, workdir or network)');
  if (reasons.length === 0) reasons.push('what it reads changed (a stage or image it copies or mounts from)');
  return reasons;
}
