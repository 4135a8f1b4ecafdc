/**
 * How build-check results are printed: `berth check` as `docker build --check` prints them
 * (buildx's lint printer and BuildKit's source snippet), `--format json` as BuildKit's
 * LintResults, and the short list a normal build prints at its end.
 */
import type { LintWarning } from './config.ts';

/** Warnings by first line, keeping the order of those on the same line (as BuildKit sorts them). */
export function sortWarnings(warnings: readonly LintWarning[]): LintWarning[] {
  return warnings.map((w, i) => ({ w, i })).sort((a, b) => a.w.startLine - b.w.startLine || a.i - b.i).map(({ w }) => w);
}

/**
 * BuildKit's errdefs Source.Print: `file:line`, a rule, the instruction's lines marked `>>>` with
 * context around them (two lines either side for a one-line instruction, one otherwise), a rule.
 */
export function sourceSnippet(file: string, source: string, startLine: number, endLine: number): string {
  const lines = source.split('\n');
  let start = startLine;
  let end = Math.min(Math.max(endLine, startLine), lines.length);
  if (start < 1 || start > lines.length) return '';
  const pad = end === start ? 4 : 2;
  for (let p = 0; p < pad; p++) {
    if (start > 1) {
      start--;
      p++;
    }
    if (end !== lines.length) {
      end++;
      p++;
    }
  }
  const out = [`${file}:${startLine}`, '--------------------'];
  for (let i = start; i <= end; i++) {
    const marked = i >= startLine && i <= Math.max(endLine, startLine);
    out.push(` ${String(i).padStart(3)} | ${marked ? '>>>' : '   '} ${lines[i - 1]}`);
  }
  out.push('--------------------');
  return `${out.join('\n')}\n`;
}

/** One warning as `docker build --check` prints it (starting with an empty line). */
export function formatWarning(w: LintWarning, file: string, source: string): string {
  return `\nWARNING: ${w.rule}${w.url ? ` - ${w.url}` : ''}\n${w.message}\n${sourceSnippet(file, source, w.startLine, w.endLine)}`;
}

/** The `--check` text: a count line, then every warning by line. */
export function formatCheck(warnings: readonly LintWarning[], file: string, source: string): string {
  if (warnings.length === 0) return 'Check complete, no warnings found.\n';
  const count = warnings.length === 1 ? '1 warning has been found!' : `${warnings.length} warnings have been found!`;
  return `Check complete, ${count}\n${sortWarnings(warnings).map((w) => formatWarning(w, file, source)).join('')}`;
}

/** BuildKit's LintFormatShort: `Rule: message (line N)`. */
export function shortWarning(w: LintWarning): string {
  return `${w.rule}: ${w.message}${w.startLine > 0 ? ` (line ${w.startLine})` : ''}`;
}

/** What a build prints after it finishes, as buildx does (without --debug). */
export function formatBuildWarnings(warnings: readonly LintWarning[]): string {
  if (warnings.length === 0) return '';
  const count = warnings.length === 1 ? '1 warning found' : `${warnings.length} warnings found`;
  return `\n ${count} (use berth check to expand):\n${warnings.map((w) => ` - ${shortWarning(w)}\n`).join('')}`;
}

/** BuildKit's LintResults JSON (`--format json`): warnings, the source, and an error if any. */
export function checkJson(warnings: readonly LintWarning[], file: string, source: string, error?: { message: string; line?: number }): string {
  const location = (start: number, end: number) => ({ ranges: [{ start: { line: start }, end: { line: end } }] });
  const out: Record<string, unknown> = {
    warnings: sortWarnings(warnings).map((w) => ({
      ruleName: w.rule, description: w.description, ...(w.url ? { url: w.url } : {}), detail: w.message,
      location: location(w.startLine, w.endLine),
    })),
    sources: [{ filename: file, language: 'Dockerfile', data: Buffer.from(source).toString('base64') }],
  };
  if (error) out.buildError = { message: error.message, location: error.line ? location(error.line, error.line) : {} };
  return `${JSON.stringify(out, null, 2)}\n`;
}
