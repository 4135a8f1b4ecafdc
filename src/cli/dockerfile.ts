import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BuildError } from '../source/index.ts';
import type { ParsedDockerfile } from '../syntax/ast.ts';
import { parseDockerfileCached } from '../store/parse-cache.ts';

/**
 * Reads the Dockerfile named by -f (or `<context>/Dockerfile`; `-` is stdin) and parses it, or
 * takes the parse from `parseCache` (see parse-cache.ts) when given. `stdinText`: standard input,
 * already read (berth build - reads it first to tell a Dockerfile from a context tar).
 */
export function readDockerfile(file: string | undefined, contextDir = '.', parseCache?: string, stdinText?: string): { parsed: ParsedDockerfile; path: string } {
  const target = file ?? path.join(contextDir === '-' ? '.' : contextDir, 'Dockerfile');
  let text: string;
  try {
    text = target === '-' && stdinText !== undefined ? stdinText : readFileSync(target === '-' ? 0 : target, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new BuildError(code === 'ENOENT' ? `failed to read Dockerfile: open ${target}: no such file or directory` : `failed to read ${target}: ${(error as Error).message}`);
  }
  const name = target === '-' ? 'Dockerfile' : path.relative(process.cwd(), target) || target;
  return { parsed: parseDockerfileCached(text, name, parseCache), path: target };
}
