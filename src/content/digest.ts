import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Digests as the OCI image spec writes them: `algorithm:encoded`. berth stores and verifies
 * sha256 only (the spec's required algorithm); other algorithms are parsed so that a clear
 * "unsupported" error can be given instead of a bad path.
 */
export type Digest = `sha256:${string}`;

const SHA256_HEX = /^[a-f0-9]{64}$/;
const DIGEST = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

export class DigestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DigestError';
  }
}

export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && value.startsWith('sha256:') && SHA256_HEX.test(value.slice(7));
}

/** Checks `value` is a sha256 digest and returns it typed; throws a DigestError otherwise. */
export function parseDigest(value: string): Digest {
  if (isDigest(value)) return value;
  const match = DIGEST.exec(value);
  if (!match) throw new DigestError(`invalid digest ${JSON.stringify(value)}`);
  if (match[1] !== 'sha256') throw new DigestError(`unsupported digest algorithm ${match[1]} in ${value}`);
  throw new DigestError(`invalid sha256 digest ${JSON.stringify(value)}: want 64 lower-case hex digits`);
}

/** The hex part of a digest. */
export function digestHex(digest: Digest): string {
  return digest.slice(7);
}

export function digestFromHex(hex: string): Digest {
  return parseDigest(`sha256:${hex}`);
}

export function sha256Digest(data: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** A running sha256 that also counts bytes. */
export interface Digester {
  update(chunk: Uint8Array): void;
  /** Finishes the hash; call once. */
  digest(): Digest;
  readonly size: () => number;
}

export function createDigester(): Digester {
  const hash: Hash = createHash('sha256');
  let size = 0;
  return {
    update(chunk) {
      hash.update(chunk);
      size += chunk.byteLength;
    },
    digest: () => `sha256:${hash.digest('hex')}`,
    size: () => size,
  };
}

/**
 * A pass-through stream that hashes what flows through it. `result()` is valid once the stream
 * has ended; used to take the diff_id of an uncompressed tar on its way to the compressor.
 */
export interface DigestTap {
  stream: Transform;
  result(): { digest: Digest; size: number };
}

export function createDigestTap(): DigestTap {
  const digester = createDigester();
  let final: { digest: Digest; size: number } | undefined;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      digester.update(chunk);
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      final = { digest: digester.digest(), size: digester.size() };
      callback();
    },
  });
  return {
    stream,
    result() {
      if (!final) throw new Error('digest tap read before its stream ended');
      return final;
    },
  };
}
