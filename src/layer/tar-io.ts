import { Readable } from 'node:stream';
import {
  BLOCK,
  END_OF_ARCHIVE,
  decodeRawHeader,
  encodeHeader,
  entryTypeOf,
  isZeroBlock,
  padding,
  parsePax,
  type TarHeader,
} from './tar-format.ts';

/** One archive member: its header and (for files) its bytes, streamed. */
export interface TarEntry {
  header: TarHeader;
  /**
   * The body, to be read at most once before asking for the next entry; whatever is left
   * unread is skipped.
   */
  body: AsyncIterable<Buffer>;
}

/** Exact-length reads over an async byte source, without re-concatenating everything. */
function byteReader(source: AsyncIterable<Uint8Array>) {
  const iterator = source[Symbol.asyncIterator]();
  let pending: Buffer = Buffer.alloc(0);
  let done = false;

  async function fill(): Promise<boolean> {
    if (done) return false;
    const next = await iterator.next();
    if (next.done) {
      done = true;
      return false;
    }
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    return true;
  }

  return {
    /** Exactly n bytes, or null at a clean end of input; throws on a truncated read. */
    async exact(n: number): Promise<Buffer | null> {
      while (pending.length < n) {
        if (!(await fill())) {
          if (pending.length === 0) return null;
          throw new Error('unexpected end of tar archive');
        }
      }
      const out = pending.subarray(0, n);
      pending = pending.subarray(n);
      return out;
    },
    /** Streams the next n bytes in whatever chunks arrive. */
    async *chunks(n: number): AsyncGenerator<Buffer> {
      let left = n;
      while (left > 0) {
        if (pending.length === 0 && !(await fill())) throw new Error('unexpected end of tar archive');
        const take = Math.min(left, pending.length);
        const out = pending.subarray(0, take);
        pending = pending.subarray(take);
        left -= take;
        yield out;
      }
    },
    async skip(n: number): Promise<void> {
      for await (const _ of this.chunks(n));
    },
    async close(): Promise<void> {
      await iterator.return?.();
    },
  };
}

async function readAll(reader: ReturnType<typeof byteReader>, size: number): Promise<Buffer> {
  if (size > 64 * 1024 * 1024) throw new Error('tar metadata record too large');
  const body = size === 0 ? Buffer.alloc(0) : await reader.exact(size);
  if (body === null) throw new Error('unexpected end of tar archive');
  await reader.skip(padding(size).length);
  return Buffer.from(body);
}

function stringOf(value: Buffer | undefined): string | undefined {
  return value === undefined ? undefined : value.toString('utf8');
}

/**
 * Parses an uncompressed tar stream. Pax (`x`, `g`) and GNU long-name (`L`, `K`) records are
 * folded into the header that follows them; member types a layer cannot hold (sparse files,
 * volume labels, ...) are skipped, except sparse which is refused rather than mis-extracted.
 */
export async function* readTar(source: AsyncIterable<Uint8Array>): AsyncGenerator<TarEntry> {
  const reader = byteReader(source);
  const globals = new Map<string, Buffer>();
  let local = new Map<string, Buffer>();
  let longName: string | undefined;
  let longLink: string | undefined;
  try {
    for (;;) {
      const block = await reader.exact(BLOCK);
      if (block === null || isZeroBlock(block)) return;
      const raw = decodeRawHeader(block);
      const records = new Map([...globals, ...local]);
      const size = records.has('size') ? Number(stringOf(records.get('size'))) : raw.size;
      switch (raw.typeflag) {
        case 'x':
          local = parsePax(await readAll(reader, raw.size));
          continue;
        case 'g':
          for (const [key, value] of parsePax(await readAll(reader, raw.size))) globals.set(key, value);
          continue;
        case 'L':
          longName = (await readAll(reader, raw.size)).toString('utf8').replace(/\0.*$/s, '');
          continue;
        case 'K':
          longLink = (await readAll(reader, raw.size)).toString('utf8').replace(/\0.*$/s, '');
          continue;
        case 'S':
          throw new Error(`sparse file ${raw.name} in tar archive is not supported`);
      }
      if ([...records.keys()].some((key) => key.startsWith('GNU.sparse.'))) {
        throw new Error(`sparse file ${raw.name} in tar archive is not supported`);
      }
      const name = stringOf(records.get('path')) ?? longName ?? raw.name;
      const type = entryTypeOf(raw.typeflag, name);
      const xattrs: Record<string, Buffer> = {};
      for (const [key, value] of records) {
        if (key.startsWith('SCHILY.xattr.')) xattrs[key.slice('SCHILY.xattr.'.length)] = value;
      }
      const numberOr = (key: string, fallback: number) => (records.has(key) ? Number(stringOf(records.get(key))) : fallback);
      const header: TarHeader | undefined = type && {
        name,
        type,
        mode: raw.mode & 0o7777,
        uid: numberOr('uid', raw.uid),
        gid: numberOr('gid', raw.gid),
        size: type === 'file' ? size : 0,
        mtime: numberOr('mtime', raw.mtime),
        linkname: stringOf(records.get('linkpath')) ?? longLink ?? raw.linkname,
        uname: stringOf(records.get('uname')) ?? raw.uname,
        gname: stringOf(records.get('gname')) ?? raw.gname,
        devmajor: raw.devmajor,
        devminor: raw.devminor,
        ...(Object.keys(xattrs).length > 0 ? { xattrs } : {}),
      };
      local = new Map();
      longName = undefined;
      longLink = undefined;

      let consumed = 0;
      const bodySize = header ? header.size : 0;
      if (header) {
        yield {
          header,
          body: (async function* () {
            for await (const chunk of reader.chunks(bodySize - consumed)) {
              consumed += chunk.length;
              yield chunk;
            }
          })(),
        };
      }
      // Skip what the consumer left, then the block padding (and any body of skipped types).
      await reader.skip(size - consumed);
      await reader.skip(padding(size).length);
    }
  } finally {
    await reader.close();
  }
}

/** An archive member to write; `body` must produce exactly `header.size` bytes. */
export interface TarMember {
  header: TarHeader;
  body?: Uint8Array | AsyncIterable<Uint8Array> | (() => AsyncIterable<Uint8Array> | Iterable<Uint8Array>);
}

/** A member copied as is from another archive: its header blocks, body and padding. */
export interface RawTarMember {
  name: string;
  raw: () => Buffer;
}

export type TarInput = TarMember | RawTarMember;

export interface PackOptions {
  /** Told where each member's bytes (headers, body, padding) went in the stream. */
  onEntry?(name: string, offset: number, length: number): void;
}

/**
 * Serialises entries into a tar byte stream (ending with the two zero blocks). Bodies are
 * pulled lazily, one entry at a time, so memory stays flat for large layers.
 */
export async function* packTar(entries: AsyncIterable<TarInput> | Iterable<TarInput>, options: PackOptions = {}): AsyncGenerator<Buffer> {
  // Small members are gathered into larger chunks: a layer of many small files would otherwise
  // cost a stream round trip per header, body and padding.
  let batch: Buffer[] = [];
  let batched = 0;
  let offset = 0;
  const add = (chunk: Buffer): Buffer | undefined => {
    // Chunks that lie next to each other in memory (members spliced from one read of an
    // earlier blob) are joined as one view instead of copied.
    const last = batch.at(-1);
    if (last && last.buffer === chunk.buffer && last.byteOffset + last.length === chunk.byteOffset) {
      batch[batch.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + chunk.length);
    } else {
      batch.push(chunk);
    }
    batched += chunk.length;
    offset += chunk.length;
    if (batched < BATCH_BYTES) return undefined;
    const out = batch.length === 1 ? batch[0] : Buffer.concat(batch, batched);
    batch = [];
    batched = 0;
    return out;
  };
  for await (const input of entries) {
    const start = offset;
    if ('raw' in input) {
      const ready = add(input.raw());
      options.onEntry?.(input.name, start, offset - start);
      if (ready) yield ready;
      continue;
    }
    const { header, body } = input;
    let ready = add(encodeHeader(header));
    if (ready) yield ready;
    if (header.type !== 'file') {
      options.onEntry?.(header.name, start, offset - start);
      continue;
    }
    let written = 0;
    if (body !== undefined) {
      const source = typeof body === 'function' ? body() : body instanceof Uint8Array ? [body] : body;
      for await (const chunk of source) {
        written += chunk.byteLength;
        if (written > header.size) throw new Error(`${header.name}: body longer than its header size ${header.size} (file changed while archiving?)`);
        ready = add(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
        if (ready) yield ready;
      }
    }
    if (written !== header.size) {
      throw new Error(`${header.name}: body is ${written} bytes, header says ${header.size} (file changed while archiving?)`);
    }
    const pad = padding(header.size);
    if (pad.length > 0) {
      ready = add(pad);
      if (ready) yield ready;
    }
    options.onEntry?.(header.name, start, offset - start);
  }
  const last = add(END_OF_ARCHIVE);
  yield last ?? Buffer.concat(batch, batched);
}

const BATCH_BYTES = 256 * 1024;

/** packTar as a Node Readable, for pipelines. */
export function tarStream(entries: AsyncIterable<TarInput> | Iterable<TarInput>, options: PackOptions = {}): Readable {
  return Readable.from(packTar(entries, options), { objectMode: false });
}
