/** The header section of a raw message, as far as draft-01 answers need it: field names and raw bytes. */
import { unfoldHeader } from '@hookgate/contracts';

/** A parsed header field: its name and the raw bytes of the whole field (name, colon, value, folding, CRLF). */
export interface RawHeader {
  name: string;
  raw: string;
}

/**
 * Splits the header section of a raw message (latin1, so bytes survive) into fields, and returns the offset of
 * the body (after the empty line). Lines without a colon are not fields and are skipped.
 */
export function parseHeaderSection(raw: Buffer): { headers: RawHeader[]; bodyOffset: number } {
  const text = raw.toString('latin1');
  const headers: RawHeader[] = [];
  let pos = 0;
  let current: RawHeader | undefined;
  let bodyOffset = text.length;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    const end = nl < 0 ? text.length : nl + 1;
    const line = text.slice(pos, end);
    if (line === '\r\n' || line === '\n') {
      bodyOffset = end;
      break;
    }
    if ((line.startsWith(' ') || line.startsWith('\t')) && current) {
      current.raw += line;
    } else {
      const colon = line.indexOf(':');
      current = colon > 0 ? { name: line.slice(0, colon).trim(), raw: line } : undefined;
      if (current) headers.push(current);
    }
    pos = end;
  }
  return { headers, bodyOffset };
}

/** A field's value, unfolded (still latin1: decode the bytes as needed). */
export function headerValueOf(h: RawHeader): string {
  return unfoldHeader(h.raw.slice(h.raw.indexOf(':') + 1));
}

/** The n-th (1-based) occurrence of a header name in `names`, case-insensitively; -1 if absent. */
export function nth(names: readonly string[], name: string, n: number): number {
  const lower = name.toLowerCase();
  let seen = 0;
  for (let i = 0; i < names.length; i++) {
    if (names[i]!.toLowerCase() === lower && ++seen === n) return i;
  }
  return -1;
}
