/**
 * Which checks run and whether they fail the build: the `# check=` parser directive, or
 * `--build-arg BUILDKIT_DOCKERFILE_CHECK=...`, which replaces the directive entirely (BuildKit's
 * linter.ParseLintOptions and dockerui). Syntax: up to three `;`-separated `key=value` parts,
 * `skip=Rule1,Rule2|all`, `experimental=Rule|all`, `error=<Go bool>`.
 */
import { RULES, type RuleInfo } from './rules.ts';
import type { SourceRange } from '../source/range.ts';

export interface LintConfig {
  skipAll: boolean;
  skip: Set<string>;
  experimentalAll: boolean;
  experimental: Set<string>;
  /** `error=true`: any warning fails the build (and the check). */
  error: boolean;
}

export const CHECK_BUILD_ARG = 'BUILDKIT_DOCKERFILE_CHECK';

/** Go's strconv.ParseBool. */
function parseGoBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return undefined;
}

function ruleList(value: string): { all: boolean; names: Set<string> } {
  const v = value.trim();
  if (v === 'all') return { all: true, names: new Set() };
  return { all: false, names: new Set(v.split(',').map((r) => r.trim())) };
}

/** Parses check options; throws Error with BuildKit's message on a bad one. */
export function parseCheckOptions(text: string | undefined): LintConfig {
  const config: LintConfig = { skipAll: false, skip: new Set(), experimentalAll: false, experimental: new Set(), error: false };
  const trimmed = (text ?? '').trim();
  if (trimmed === '') return config;
  // strings.SplitN(s, ";", 3): a third part keeps any further semicolons.
  const parts = trimmed.split(';');
  if (parts.length > 3) parts.splice(2, parts.length - 2, parts.slice(2).join(';'));
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq < 0) throw new Error(`invalid check option ${JSON.stringify(part)}`);
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1);
    if (key === 'skip') {
      const list = ruleList(value);
      config.skipAll = list.all;
      config.skip = list.names;
    } else if (key === 'experimental') {
      const list = ruleList(value);
      config.experimentalAll = list.all;
      config.experimental = list.names;
    } else if (key === 'error') {
      const parsed = parseGoBool(value.trim());
      if (parsed === undefined) throw new Error(`failed to parse check option ${JSON.stringify(part)}: strconv.ParseBool: parsing ${JSON.stringify(value.trim())}: invalid syntax`);
      config.error = parsed;
    } else {
      throw new Error(`invalid check option ${JSON.stringify(key)}`);
    }
  }
  return config;
}

/** One reported violation. Lines are what BuildKit's lint locations carry (no columns). */
export interface LintWarning {
  rule: string;
  description: string;
  url?: string;
  message: string;
  startLine: number;
  endLine: number;
  /** The instruction (or line) the warning is about, for code frames. */
  range: SourceRange;
}

export interface Linter {
  readonly warnings: LintWarning[];
  report(rule: RuleInfo, range: SourceRange, message: string): void;
}

/** Whether `config` lets `rule` run: experimental rules only when named, others unless skipped. */
export function ruleEnabled(config: LintConfig, rule: RuleInfo): boolean {
  if (rule.experimental) return config.experimentalAll || config.experimental.has(rule.name);
  return !config.skipAll && !config.skip.has(rule.name);
}

export function createLinter(config: LintConfig): Linter {
  const warnings: LintWarning[] = [];
  return {
    warnings,
    report(rule, range, message) {
      if (!ruleEnabled(config, rule)) return;
      warnings.push({
        rule: rule.name, description: rule.description, ...(rule.url ? { url: rule.url } : {}), message,
        startLine: range.start.line, endLine: Math.max(range.end.line, range.start.line), range,
      });
    },
  };
}

/** BuildKit's error for `error=true`: the rules that fired, each once, in the order first seen. */
export function lintFailure(config: LintConfig, warnings: readonly LintWarning[]): string | undefined {
  if (!config.error || warnings.length === 0) return undefined;
  return `lint violation found for rules: ${[...new Set(warnings.map((w) => w.rule))].join(', ')}`;
}

export const ALL_RULES: readonly RuleInfo[] = Object.values(RULES);
