/**
 * What ADD <url> learnt of a URL the last time: the validators the server sent (ETag,
 * Last-Modified) and the blob the body became. The next build asks the server with
 * If-None-Match / If-Modified-Since, as BuildKit does, and a 304 reuses the stored blob: an
 * unchanged URL is neither downloaded again nor a cache miss. One small file per URL, written
 * atomically; a record whose blob was pruned is ignored (and prune drops it).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../content/store.ts';

export interface UrlRecord {
  url: string;
  digest: string;
  etag?: string;
  lastModified?: string;
}

function recordFile(dir: string, url: string): string {
  return path.join(dir, `${createHash('sha256').update(url).digest('hex')}.json`);
}

export function readUrlRecord(dir: string, url: string): UrlRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(recordFile(dir, url), 'utf8')) as UrlRecord;
    return record.url === url && typeof record.digest === 'string' ? record : undefined;
  } catch {
    return undefined;
  }
}

/** Remembers a download when the server gave something to revalidate it by. */
export async function saveUrlRecord(dir: string, record: UrlRecord): Promise<void> {
  if (record.etag === undefined && record.lastModified === undefined) return;
  await writeFileAtomic(recordFile(dir, record.url), JSON.stringify(record));
}

/** The conditional request headers for a URL downloaded before. */
export function revalidationHeaders(record: UrlRecord | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (record?.etag) headers['if-none-match'] = record.etag;
  if (record?.lastModified) headers['if-modified-since'] = record.lastModified;
  return headers;
}
