import { createRequire } from 'node:module';
import { Duplex, PassThrough, Readable, Transform, pipeline } from 'node:stream';
import { constants, createGunzip, createGzip, createZstdCompress, createZstdDecompress } from 'node:zlib';

/**
 * Layer and archive compression: sniffed from magic bytes on the way in (a layer's media type
 * may lie, `docker save | gzip` has none), chosen by the caller on the way out. Compression is
 * its own stream stage so the uncompressed tar can be hashed for its diff_id on the way through.
 */
export type Compression = 'none' | 'gzip' | 'zstd' | 'bzip2' | 'xz';

/** The compression named by a stream's first bytes (6 are enough). */
export function sniffCompression(head: Uint8Array): Compression {
  const starts = (...bytes: number[]) => bytes.every((byte, i) => head[i] === byte);
  if (starts(0x1f, 0x8b)) return 'gzip';
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd';
  if (starts(0x42, 0x5a, 0x68)) return 'bzip2';
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  return 'none';
}

export class UnsupportedCompressionError extends Error {
  readonly compression: Compression;
  constructor(compression: Compression) {
    super(`${compression}-compressed archives are not supported yet`);
    this.name = 'UnsupportedCompressionError';
    this.compression = compression;
  }
}

/** Made when a bzip2 archive is first read, not at load: node:module must stay out of the start-up snapshot's build. */
let requireCjs: NodeJS.Require | undefined;
const require = (id: string): unknown => (requireCjs ??= createRequire(import.meta.url))(id);

/** unbzip2-stream's stream: an old-style (`through`) stream, not a streams3 Transform. */
interface ThroughStream {
  write(chunk: Buffer): boolean;
  end(): void;
  on(event: 'data', listener: (chunk: Buffer) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  once(event: 'end', listener: () => void): void;
}

/** bzip2 through unbzip2-stream (pure JavaScript), wrapped as a Transform. */
function bunzip2(): Transform {
  const inner = (require('unbzip2-stream') as () => ThroughStream)();
  const outer = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      try {
        inner.write(chunk);
        done();
      } catch (error) {
        done(error as Error);
      }
    },
    flush(done) {
      inner.once('end', () => done());
      try {
        inner.end();
      } catch (error) {
        done(error as Error);
      }
    },
  });
  inner.on('data', (chunk) => outer.push(chunk));
  inner.on('error', (error) => outer.destroy(error));
  return outer;
}

/** xz through xz-decompress (WebAssembly, no native code), whose interface is web streams. */
function unxz(): Duplex {
  const { XzReadableStream } = require('xz-decompress') as { XzReadableStream: new (input: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array> };
  const input = new PassThrough();
  const output = Readable.fromWeb(new XzReadableStream(Readable.toWeb(input) as ReadableStream<Uint8Array>) as import('node:stream/web').ReadableStream);
  return Duplex.from({ writable: input, readable: output });
}

function decompressor(compression: Compression): Transform | Duplex | undefined {
  switch (compression) {
    case 'none':
      return undefined;
    case 'gzip':
      return createGunzip();
    case 'zstd':
      return createZstdDecompress();
    case 'bzip2':
      return bunzip2();
    case 'xz':
      return unxz();
  }
}

/** Output of `compress`: a gzip stream (deterministic for the same input and Node build). */
export function compressor(compression: 'gzip' | 'zstd'): Transform {
  if (compression === 'zstd') return createZstdCompress();
  // zlib writes a gzip header with mtime 0 and no name, so the same tar gives the same blob.
  return createGzip({ level: constants.Z_DEFAULT_COMPRESSION });
}

/** Pipes `source` through `stage`, destroying both on error; returns the stage to read from. */
function through(source: Readable, stage: Transform | Duplex | undefined): Readable {
  if (!stage) return source;
  return pipeline(source, stage, () => undefined);
}

/**
 * Reads enough of `source` to sniff it and returns the decompressed byte stream along with
 * what it was compressed with (gzip, zstd, bzip2 or xz).
 */
export async function openDecompressed(
  source: AsyncIterable<Uint8Array> | Readable,
): Promise<{ compression: Compression; stream: Readable }> {
  const iterator = (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headLength = 0;
  let ended = false;
  while (headLength < 6) {
    const next = await iterator.next();
    if (next.done) {
      ended = true;
      break;
    }
    const chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    head.push(chunk);
    headLength += chunk.length;
  }
  const compression = sniffCompression(Buffer.concat(head));
  let stage: Transform | Duplex | undefined;
  try {
    stage = decompressor(compression);
  } catch (error) {
    await iterator.return?.();
    throw error;
  }
  const replay = Readable.from(
    (async function* () {
      try {
        yield* head;
        if (ended) return;
        for (;;) {
          const next = await iterator.next();
          if (next.done) return;
          yield next.value;
        }
      } finally {
        // Stops the source when our reader is destroyed early.
        await iterator.return?.();
      }
    })(),
    { objectMode: false },
  );
  return { compression, stream: through(replay, stage) };
}
