/**
 * `berth build -`: standard input is either a Dockerfile (a build with no context) or a tar of
 * the context, plain or compressed (gzip, bzip2, xz, zstd), as `docker build - < ctx.tar.gz`
 * takes it. A tar is unpacked by berth's own layer applier (nothing lands outside the directory)
 * into a scratch directory of the store, named after this berth so a kill leaves it to the sweep.
 */
import { readFileSync, rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { applyTar } from '../layer/apply.ts';
import { makeTempDir } from '../snapshot/snapshots.ts';
import { BuildError } from '../source/index.ts';
import type { StoreLayout } from '../store/layout.ts';

export interface StdinInput {
  /** The unpacked context, when standard input was an archive. */
  contextDir?: string;
  /** The Dockerfile's text, when it was not. */
  dockerfile?: string;
  cleanup(): void;
}

const COMPRESSED = [[0x1f, 0x8b], [0x42, 0x5a, 0x68], [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], [0x28, 0xb5, 0x2f, 0xfd]];

/** A tar (its `ustar` magic) or a compressed stream, which docker build takes for a tar too. */
export function isArchiveInput(bytes: Buffer): boolean {
  if (bytes.length >= 262 && bytes.toString('latin1', 257, 262) === 'ustar') return true;
  return COMPRESSED.some((magic) => magic.every((b, i) => bytes[i] === b));
}

export async function readStdinInput(layout: StoreLayout): Promise<StdinInput> {
  const bytes = readFileSync(0);
  if (!isArchiveInput(bytes)) return { dockerfile: bytes.toString('utf8'), cleanup: () => {} };
  const dir = makeTempDir(layout, 'context');
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    await applyTar(Readable.from([bytes]), dir, { mode: 'plain', chown: false, layer: 'the build context on standard input' });
  } catch (error) {
    cleanup();
    throw new BuildError(`unable to prepare context: ${(error as Error).message}`);
  }
  return { contextDir: dir, cleanup };
}
