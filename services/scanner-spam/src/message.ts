/**
 * Just enough of RFC 5322 to know which header fields a message has: milter-style modifications address
 * headers by per-name occurrence, and "delete all X-Spam" needs to know how many there are.
 */
import { smtpReplyText } from '@hookgate/contracts';

export interface HeaderIndex {
  /** False when the message was not available: counts are then unknown, not zero. */
  known: boolean;
  /** Number of header fields in the message. */
  total: number;
  /** Occurrences of a header field, by case-insensitive name. */
  count(name: string): number;
}

/** Header sections are small; never decode a whole large message to find them. */
const MAX_HEADER_BYTES = 256 * 1024;

export function indexHeaders(message: Uint8Array): HeaderIndex {
  const head = Buffer.from(
    message.buffer,
    message.byteOffset,
    Math.min(message.byteLength, MAX_HEADER_BYTES),
  ).toString('latin1');
  const counts = new Map<string, number>();
  let total = 0;
  for (const line of head.split('\n')) {
    const l = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (l === '') break; // end of the header section
    if (l.startsWith(' ') || l.startsWith('\t')) continue; // folded continuation
    const colon = l.indexOf(':');
    if (colon <= 0) continue;
    const name = l.slice(0, colon).trim().toLowerCase();
    counts.set(name, (counts.get(name) ?? 0) + 1);
    total++;
  }
  return { known: true, total, count: (name) => counts.get(name.toLowerCase()) ?? 0 };
}

/** For mapping without the message (unit tests, bench): nothing is known about its headers. */
export const UNKNOWN_HEADERS: HeaderIndex = { known: false, total: 0, count: () => 0 };

/** Unfolds a header value to one line and drops control characters: engine output must not inject headers. */
export function oneLine(value: string, max = 2000): string {
  return value
    .replace(/\r?\n(?=[ \t])/g, '')
    .replace(/[\r\n]+/g, ' ')
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '')
    .slice(0, max);
}

/** Text for an SMTP reply: one line of printable ASCII, trimmed. */
export function replyText(value: string, max = 400): string {
  return smtpReplyText(value, Infinity).trim().slice(0, max);
}

/** Rule and symbol names are engine output: keep results and logs to a safe charset and length. */
export function safeName(name: string): string {
  return name.replace(/[^\w.\-:/]/g, '_').slice(0, 100);
}
