import { closeSync, openSync, readSync } from 'node:fs';
import { BLOCK, decodeRawHeader, parsePax } from './tar-format.ts';

/**
 * Members a new layer repeats byte for byte from an earlier layer blob. A COPY rebuilt after a
 * small change moves most of its files unchanged from the step's previous snapshot
 * (src/copy/reuse.ts); their tar members (pax header, header, body, padding) are exactly
 * the ones the previous layer blob holds, so they are read from there in large sequential reads
 * instead of one open, read and close per file. Each copied member is checked to be the one
 * named, with the length recorded, so a stale offset fails the build instead of corrupting it.
 */
export interface LayerSplice {
  /** Host path of the earlier, uncompressed layer blob. */
  blob: string;
  /** Member name -> [offset, length] of its bytes in that blob. */
  members: ReadonlyMap<string, readonly [number, number]>;
  /** Names (archive paths) whose files are the very files that blob archived, untouched since. */
  same: ReadonlySet<string>;
}

const WINDOW = 4 << 20;

function roundUp(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/** A plain ustar file header's name and size, read without decoding every field (the common case). */
function plainFileHeader(block: Buffer): { name: string; size: number } | undefined {
  if (block[156] !== 0x30 || block.toString('latin1', 257, 263) !== 'ustar\0') return undefined;
  const field = (offset: number, width: number) => {
    const end = block.indexOf(0, offset);
    return block.toString('utf8', offset, end < 0 || end > offset + width ? offset + width : end);
  };
  const size = block.toString('latin1', 124, 136).replace(/\0.*$/s, '').trim();
  if (!/^[0-7]+$/.test(size)) return undefined;
  const prefix = field(345, 155);
  const name = field(0, 100);
  return { name: prefix ? `${prefix}/${name}` : name, size: parseInt(size, 8) };
}

/** The name and total length (all header blocks, body, padding) of the member at the start of `bytes`. */
export function describeMember(bytes: Buffer): { name: string; length: number; typeflag: string } {
  const plain = plainFileHeader(bytes.subarray(0, BLOCK));
  if (plain) return { name: plain.name, length: BLOCK + roundUp(plain.size), typeflag: '0' };
  let at = 0;
  let paxPath: string | undefined;
  let paxSize: number | undefined;
  for (;;) {
    const header = decodeRawHeader(bytes.subarray(at, at + BLOCK));
    if (header.typeflag === 'x') {
      const pax = parsePax(bytes.subarray(at + BLOCK, at + BLOCK + header.size));
      paxPath = pax.get('path')?.toString('utf8') ?? paxPath;
      const size = pax.get('size');
      if (size) paxSize = Number(size.toString('ascii'));
      at += BLOCK + roundUp(header.size);
      continue;
    }
    return { name: paxPath ?? header.name, length: at + BLOCK + roundUp(paxSize ?? header.size), typeflag: header.typeflag };
  }
}

export interface SpliceReader {
  /** The regular file member `name`'s bytes, or undefined when the blob has no such member recorded. */
  member(name: string): Buffer | undefined;
  close(): void;
}

export function openSpliceReader(splice: LayerSplice): SpliceReader {
  let fd: number | undefined;
  let windowStart = 0;
  let window = Buffer.alloc(0);
  const read = (offset: number, length: number): Buffer => {
    if (offset >= windowStart && offset + length <= windowStart + window.length) {
      return window.subarray(offset - windowStart, offset - windowStart + length);
    }
    fd ??= openSync(splice.blob, 'r');
    // A fresh buffer each time: slices handed out earlier stay valid.
    window = Buffer.allocUnsafe(Math.max(WINDOW, length));
    let got = 0;
    while (got < window.length) {
      const n = readSync(fd, window, got, window.length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    window = window.subarray(0, got);
    windowStart = offset;
    if (got < length) throw new Error(`layer splice: ${splice.blob} ends before offset ${offset + length}`);
    return window.subarray(0, length);
  };
  return {
    member(name) {
      const where = splice.members.get(name);
      if (!where) return undefined;
      const bytes = read(where[0], where[1]);
      const found = describeMember(bytes);
      if (found.name !== name || found.length !== where[1] || found.typeflag !== '0') {
        throw new Error(`layer splice: ${splice.blob} has ${JSON.stringify(found.name)} (${found.length} bytes) where ${JSON.stringify(name)} (${where[1]} bytes) was recorded`);
      }
      return bytes;
    },
    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}
