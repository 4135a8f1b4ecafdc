/**
 * The tar header format (POSIX ustar + pax extended headers, reading GNU long names too), as
 * layers use it. berth has its own codec because layer fidelity depends on details general tar
 * libraries get wrong for us: binary `SCHILY.xattr.*` values (security.capability is raw bytes),
 * uid/gid above 262143, and byte-for-byte deterministic output.
 */

export type TarEntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'directory' | 'fifo';

export interface TarHeader {
  /** Path inside the archive, `/`-separated; directories may end in `/`. */
  name: string;
  type: TarEntryType;
  /** Permission bits including setuid, setgid and sticky (mask 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Body length; 0 for everything but `file`. */
  size: number;
  /** Seconds since the epoch; fractional when a pax header carried it. */
  mtime: number;
  /** Symlink target, or the earlier path a hardlink points at. */
  linkname?: string;
  uname?: string;
  gname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes (pax `SCHILY.xattr.<name>`), values as raw bytes. */
  xattrs?: Record<string, Buffer>;
}

export const BLOCK = 512;

const TYPEFLAG: Record<TarEntryType, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  char: '3',
  block: '4',
  directory: '5',
  fifo: '6',
};

/** Largest value of an octal field of `width` bytes (width-1 digits and a NUL). */
function octalMax(width: number): number {
  return 8 ** (width - 1) - 1;
}

function isAscii(text: string): boolean {
  return /^[\x00-\x7f]*$/.test(text);
}

/** Splits a long name into ustar prefix/name at a `/`, or undefined when it cannot be done. */
function splitUstarName(name: string): { prefix: string; name: string } | undefined {
  if (!isAscii(name)) return undefined;
  if (name.length <= 100) return { prefix: '', name };
  // Rightmost usable `/` within the prefix width; the last character never splits (a
  // directory's trailing slash), and a split further left only makes the rest longer.
  for (let i = Math.min(name.length - 2, 155); i > 0; i--) {
    if (name[i] !== '/') continue;
    return name.length - i - 1 <= 100 ? { prefix: name.slice(0, i), name: name.slice(i + 1) } : undefined;
  }
  return undefined;
}

/** One pax record: `<len> <key>=<value>\n`, where len counts itself. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let length = body.length + 1;
  while (String(length).length + body.length > length) length++;
  return Buffer.concat([Buffer.from(String(length)), body]);
}

function writeString(block: Buffer, text: string, offset: number, width: number): void {
  block.write(text, offset, Math.min(width, Buffer.byteLength(text)), 'utf8');
}

function writeOctal(block: Buffer, value: number, offset: number, width: number): void {
  block.write(Math.floor(value).toString(8).padStart(width - 1, '0') + '\0', offset, width, 'ascii');
}

function ustarBlock(fields: {
  name: string;
  prefix: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}): Buffer {
  const block = Buffer.alloc(BLOCK);
  writeString(block, fields.name, 0, 100);
  writeOctal(block, fields.mode, 100, 8);
  writeOctal(block, fields.uid, 108, 8);
  writeOctal(block, fields.gid, 116, 8);
  writeOctal(block, fields.size, 124, 12);
  writeOctal(block, fields.mtime, 136, 12);
  block.write('        ', 148, 8, 'ascii');
  block.write(fields.typeflag, 156, 1, 'ascii');
  writeString(block, fields.linkname, 157, 100);
  block.write('ustar\x0000', 257, 8, 'ascii');
  writeString(block, fields.uname, 265, 32);
  writeString(block, fields.gname, 297, 32);
  writeOctal(block, fields.devmajor, 329, 8);
  writeOctal(block, fields.devminor, 337, 8);
  writeString(block, fields.prefix, 345, 155);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return block;
}

/** Zero bytes that pad a body of `size` bytes to a whole block. */
export function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

/** Two zero blocks end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

/**
 * Encodes a header as ustar, preceded by a pax extended header when something does not fit
 * (long or non-ASCII names, big ids or sizes, xattrs). Pax keys are written in sorted order so
 * the output depends only on the header.
 */
export function encodeHeader(header: TarHeader): Buffer {
  const records = new Map<string, Buffer>();
  const split = splitUstarName(header.name);
  if (!split) records.set('path', Buffer.from(header.name));
  const linkname = header.linkname ?? '';
  const linkFits = isAscii(linkname) && linkname.length <= 100;
  if (!linkFits) records.set('linkpath', Buffer.from(linkname));
  const numeric = (key: 'uid' | 'gid' | 'size', width: number) => {
    const value = header[key];
    if (value > octalMax(width)) records.set(key, Buffer.from(String(value)));
  };
  numeric('uid', 8);
  numeric('gid', 8);
  numeric('size', 12);
  const mtime = Math.floor(header.mtime);
  if (mtime < 0 || mtime > octalMax(12)) records.set('mtime', Buffer.from(String(mtime)));
  const uname = header.uname ?? '';
  const gname = header.gname ?? '';
  if (!isAscii(uname) || uname.length > 32) records.set('uname', Buffer.from(uname));
  if (!isAscii(gname) || gname.length > 32) records.set('gname', Buffer.from(gname));
  for (const [key, value] of Object.entries(header.xattrs ?? {})) records.set(`SCHILY.xattr.${key}`, value);

  const main = ustarBlock({
    name: split ? split.name : asciiFallback(header.name, 100),
    prefix: split ? split.prefix : '',
    mode: header.mode & 0o7777,
    uid: Math.min(header.uid, octalMax(8)),
    gid: Math.min(header.gid, octalMax(8)),
    size: Math.min(header.size, octalMax(12)),
    mtime: Math.min(Math.max(mtime, 0), octalMax(12)),
    typeflag: TYPEFLAG[header.type],
    linkname: linkFits ? linkname : asciiFallback(linkname, 100),
    uname: isAscii(uname) ? uname.slice(0, 32) : '',
    gname: isAscii(gname) ? gname.slice(0, 32) : '',
    devmajor: header.devmajor ?? 0,
    devminor: header.devminor ?? 0,
  });
  if (records.size === 0) return main;

  const body = Buffer.concat([...records.keys()].sort().map((key) => paxRecord(key, records.get(key)!)));
  // Name the pax header the way Go's archive/tar does, so layers look like Docker's.
  const trimmed = header.name.replace(/\/+$/, '');
  const slash = trimmed.lastIndexOf('/');
  const paxName = `${slash < 0 ? '' : trimmed.slice(0, slash + 1)}PaxHeaders.0/${trimmed.slice(slash + 1)}`;
  const paxHeader = ustarBlock({
    name: asciiFallback(paxName, 100),
    prefix: '',
    mode: 0,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: 0,
    typeflag: 'x',
    linkname: '',
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([paxHeader, body, padding(body.length), main]);
}

/** A best-effort ASCII stand-in for a field that the pax header carries in full. */
function asciiFallback(text: string, width: number): string {
  return text.replace(/[^\x00-\x7f]/g, '_').slice(0, width);
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** A raw header block, before pax/GNU records are folded in. */
export interface RawHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

function readString(block: Buffer, offset: number, width: number): string {
  const end = block.indexOf(0, offset);
  return block.toString('utf8', offset, end < 0 || end > offset + width ? offset + width : end);
}

/** Octal (space or NUL terminated) or GNU base-256 (high bit set) numbers. */
function readNumber(block: Buffer, offset: number, width: number): number {
  const first = block[offset];
  if (first & 0x80) {
    let value = first & 0x3f;
    if (first & 0x40) throw new Error('negative number in tar header');
    for (let i = 1; i < width; i++) value = value * 256 + block[offset + i];
    return value;
  }
  const text = block.toString('ascii', offset, offset + width).replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new Error(`invalid number ${JSON.stringify(text)} in tar header`);
  return parseInt(text, 8);
}

export function isZeroBlock(block: Buffer): boolean {
  for (const byte of block) if (byte !== 0) return false;
  return true;
}

/** Decodes one header block; throws on a bad checksum. */
export function decodeRawHeader(block: Buffer): RawHeader {
  const stored = readNumber(block, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  if (stored !== unsigned && stored !== signed) throw new Error('invalid tar header checksum (not a tar archive, or corrupt)');
  const magic = block.toString('ascii', 257, 263);
  let name = readString(block, 0, 100);
  // ustar ("ustar\0") has a prefix field; GNU ("ustar ") uses those bytes for other things.
  if (magic === 'ustar\0') {
    const prefix = readString(block, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  const flag = block[156] === 0 ? '0' : String.fromCharCode(block[156]);
  return {
    name,
    mode: readNumber(block, 100, 8),
    uid: readNumber(block, 108, 8),
    gid: readNumber(block, 116, 8),
    size: readNumber(block, 124, 12),
    mtime: readNumber(block, 136, 12),
    typeflag: flag,
    linkname: readString(block, 157, 100),
    uname: readString(block, 265, 32),
    gname: readString(block, 297, 32),
    devmajor: magic.startsWith('ustar') ? readNumber(block, 329, 8) : 0,
    devminor: magic.startsWith('ustar') ? readNumber(block, 337, 8) : 0,
  };
}

/** Parses a pax extended header body into key → raw value bytes. */
export function parsePax(body: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let offset = 0;
  while (offset < body.length) {
    if (body[offset] === 0) break;
    const space = body.indexOf(0x20, offset);
    if (space < 0) throw new Error('invalid pax header record');
    const length = Number(body.toString('ascii', offset, space));
    if (!Number.isInteger(length) || length <= 0 || offset + length > body.length) throw new Error('invalid pax header record length');
    const record = body.subarray(space + 1, offset + length - 1);
    const equals = record.indexOf(0x3d);
    if (equals < 0) throw new Error('invalid pax header record');
    records.set(record.toString('utf8', 0, equals), Buffer.from(record.subarray(equals + 1)));
    offset += length;
  }
  return records;
}

/** Maps a typeflag to an entry type; undefined for types a layer cannot hold (skipped). */
export function entryTypeOf(typeflag: string, name: string): TarEntryType | undefined {
  switch (typeflag) {
    case '0':
    case '7':
      // Old tars mark directories only with a trailing slash.
      return name.endsWith('/') ? 'directory' : 'file';
    case '1':
      return 'link';
    case '2':
      return 'symlink';
    case '3':
      return 'char';
    case '4':
      return 'block';
    case '5':
    case 'D':
      return 'directory';
    case '6':
      return 'fifo';
    default:
      return undefined;
  }
}
