/**
 * Comma-separated `key=value` flags (`--mount`, `--output`, `--cache-to`, `--secret`), read the
 * way BuildKit and buildx read them: one record of Go's encoding/csv (a field may be quoted, so a
 * value can hold a comma), each field `key=value` or a bare key.
 */

/** Splits a CSV field list the way Go's encoding/csv does for one record (quotes allowed). */
export function splitCsv(text: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') { fields.push(field); field = ''; }
    else field += c;
  }
  fields.push(field);
  return fields;
}

export interface KeyValue {
  /** As written (callers lower-case it where the flag is case-insensitive). */
  key: string;
  /** Undefined for a bare key (`readonly`, `push`). */
  value: string | undefined;
}

/** The `key=value` fields of a flag, in order; empty fields are skipped, keys trimmed. */
export function parseKeyValues(text: string): KeyValue[] {
  const out: KeyValue[] = [];
  for (const field of splitCsv(text)) {
    if (field.trim() === '') continue;
    const eq = field.indexOf('=');
    if (eq < 0) out.push({ key: field.trim(), value: undefined });
    else out.push({ key: field.slice(0, eq).trim(), value: field.slice(eq + 1) });
  }
  return out;
}
