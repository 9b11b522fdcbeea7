/**
 * Byte-level decoding for the MIME walker: transfer encodings (base64, quoted-printable) and charsets. Everything
 * works on views of the message buffer and Node's native codecs; nothing here throws on bad input, it decodes
 * what it can (as mail clients do) and leaves the rest to the caller's limits.
 */
import { Buffer, isUtf8 } from 'node:buffer';
import { TextDecoder } from 'node:util';

const EQ = 0x3d;
const CR = 0x0d;
const LF = 0x0a;

/** A Buffer over the same memory as `bytes` (no copy), for Node's codecs and fast `indexOf`. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The transfer encodings the walker decodes; anything else (7bit, 8bit, binary, unknown) passes through. */
export type TransferEncoding = 'base64' | 'quoted-printable' | 'identity';

/** Reads a Content-Transfer-Encoding value, ignoring a leading comment or quotes (`(x) base64`, `"base64"`). */
export function transferEncoding(value: string | undefined): TransferEncoding {
  if (!value) return 'identity';
  const token = /^[\s"]*(?:\([^)]*\)[\s"]*)*([\w-]+)/.exec(value)?.[1]?.toLowerCase();
  return token === 'base64' || token === 'quoted-printable' ? token : 'identity';
}

/** Decodes a base64 or quoted-printable body range into a new buffer. */
export function decodeTransfer(
  buf: Buffer,
  start: number,
  end: number,
  encoding: 'base64' | 'quoted-printable',
): Buffer {
  return encoding === 'base64' ? decodeBase64(buf, start, end) : decodeQuotedPrintable(buf, start, end);
}

/**
 * Base64 with line breaks and stray characters skipped; a truncated last quantum yields the bytes it holds. Node
 * stops at the first `=`, so a body padded per line (some mailers do) is decoded unit by unit.
 */
export function decodeBase64(buf: Buffer, start: number, end: number): Buffer {
  const text = buf.toString('latin1', start, end);
  const eq = text.indexOf('=');
  if (eq < 0 || !/[A-Za-z0-9+/]/.test(text.slice(eq))) return Buffer.from(text, 'base64');
  const units = text.replace(/[^A-Za-z0-9+/=]+/g, '').split(/=+/);
  return Buffer.concat(units.filter((u) => u.length > 1).map((u) => Buffer.from(u, 'base64')));
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/**
 * Quoted-printable: `=XX` escapes (either case), soft line breaks (`=` before the line end, trailing blanks
 * allowed); an `=` that starts neither stays literal. A plain byte loop: V8 runs it near memcpy speed, where a
 * native copy per run between escapes costs more in calls than it saves.
 */
export function decodeQuotedPrintable(buf: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  let o = 0;
  let i = start;
  while (i < end) {
    const c = buf[i]!;
    if (c !== EQ) {
      out[o++] = c;
      i++;
      continue;
    }
    const h = i + 2 < end ? hexValue(buf[i + 1]!) : -1;
    const l = h >= 0 ? hexValue(buf[i + 2]!) : -1;
    if (l >= 0) {
      out[o++] = (h << 4) | l;
      i += 3;
      continue;
    }
    // A soft break: `=`, optional blanks, then CRLF, LF or the end of the body.
    let j = i + 1;
    while (j < end && (buf[j] === 0x20 || buf[j] === 0x09)) j++;
    if (j >= end || buf[j] === LF || (buf[j] === CR && (j + 1 >= end || buf[j + 1] === LF))) {
      i = j >= end ? end : buf[j] === CR ? j + 2 : j + 1;
      continue;
    }
    out[o++] = EQ;
    i++;
  }
  return out.subarray(0, o);
}

const decoders = new Map<string, TextDecoder | null>();

/** A WHATWG decoder for a charset label (as Node's ICU knows them), cached; null when the label is unknown. */
function decoderFor(label: string): TextDecoder | null {
  let d = decoders.get(label);
  if (d === undefined) {
    try {
      d = new TextDecoder(label);
    } catch {
      d = null;
    }
    // Labels come from mail: keep the cache from growing without bound.
    if (decoders.size < 256) decoders.set(label, d);
  }
  return d;
}

/** Spellings mail uses that WHATWG does not list. */
const ALIASES: Readonly<Record<string, string>> = {
  utf8: 'utf-8',
  'utf-8-bom': 'utf-8',
  latin1: 'windows-1252',
  'iso8859-1': 'windows-1252',
  cp1252: 'windows-1252',
  ascii: 'windows-1252',
  'us-ascii': 'windows-1252',
  'ansi_x3.4-1968': 'windows-1252',
  'iso-8859-8-i': 'iso-8859-8',
  'ks_c_5601-1987': 'euc-kr',
  'x-sjis': 'shift_jis',
  cp932: 'shift_jis',
  'x-gbk': 'gbk',
  cp936: 'gbk',
};

/** Bytes that windows-1252 maps differently from ISO-8859-1 (and Node's latin1). */
const C1 = /[\x80-\x9f]/;
const C1_ALL = /[\x80-\x9f]/g;
/**
 * windows-1252 at 0x80–0x9f (undefined bytes stay C1 controls, as WHATWG maps them). Node 20's TextDecoder
 * decodes the `windows-1252` label as ISO-8859-1, losing €, curly quotes and dashes, so the table is applied here.
 */
const CP1252 = [
  0x20ac, 0x81, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8d,
  0x017d, 0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a,
  0x0153, 0x9d, 0x017e, 0x0178,
].map((cp) => String.fromCharCode(cp));

/**
 * Decodes `buf[start, end)` in a declared charset, reading at most what `maxChars` characters can need. Unknown
 * or missing charsets are sniffed as for attachments (`decodeText`).
 */
export function decodeCharset(
  buf: Buffer,
  start: number,
  end: number,
  charset: string | undefined,
  maxChars = Number.POSITIVE_INFINITY,
): string {
  const label = charset
    ?.trim()
    .toLowerCase()
    .replace(/^["']|["']$/g, '');
  if (!label) return decodeTextRange(buf, start, end, maxChars);
  const name = ALIASES[label] ?? label;
  end = Math.min(end, start + maxChars * 3 + 4);
  if (name === 'utf-8') return buf.toString('utf8', start, end);
  if (name === 'windows-1252' || name === 'iso-8859-1') {
    // latin1 is Node's fastest decoder and yields compact one-byte strings; it differs only in 0x80–0x9f.
    const text = buf.toString('latin1', start, end);
    return C1.test(text) ? text.replace(C1_ALL, (c) => CP1252[c.charCodeAt(0) - 0x80]!) : text;
  }
  const decoder = decoderFor(name);
  return decoder ? decoder.decode(buf.subarray(start, end)) : decodeTextRange(buf, start, end, maxChars);
}

/**
 * Decodes text whose charset is not declared (attachments, mostly): a BOM or NUL pattern means UTF-16, valid
 * UTF-8 is UTF-8, anything else is read as windows-1252 (a superset of ISO-8859-1). Reads at most what `maxChars`
 * characters can need.
 */
export function decodeText(bytes: Uint8Array, maxChars = Number.POSITIVE_INFINITY): string {
  return decodeTextRange(asBuffer(bytes), 0, bytes.length, maxChars);
}

function decodeTextRange(buf: Buffer, start: number, end: number, maxChars: number): string {
  // One UTF-16 code unit never needs more than 3 bytes.
  const truncated = end - start > maxChars * 3 + 4;
  if (truncated) end = start + maxChars * 3 + 4;
  const b0 = buf[start];
  const b1 = buf[start + 1];
  if (b0 === 0xff && b1 === 0xfe) return decoderFor('utf-16le')!.decode(buf.subarray(start + 2, end));
  if (b0 === 0xfe && b1 === 0xff) return decoderFor('utf-16be')!.decode(buf.subarray(start + 2, end));
  if (looksUtf16le(buf, start, end)) return decoderFor('utf-16le')!.decode(buf.subarray(start, end));
  // A cut may split the last UTF-8 sequence: judge the text without it.
  const whole = truncated ? utf8Boundary(buf, start, end) : end;
  if (isUtf8(buf.subarray(start, whole))) return buf.toString('utf8', start, whole);
  return decodeCharset(buf, start, end, 'windows-1252');
}

/** Where the last complete UTF-8 sequence of `buf[start, end)` ends (drops a trailing partial one). */
function utf8Boundary(buf: Buffer, start: number, end: number): number {
  let back = 0;
  while (back < 3 && end - back > start && (buf[end - back - 1]! & 0xc0) === 0x80) back++;
  const lead = end - back - 1 >= start ? buf[end - back - 1] : undefined;
  if (lead === undefined || lead < 0xc0) return end;
  const need = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : 1;
  return back >= need ? end : end - back - 1;
}

/** UTF-16LE text without a BOM: mostly NUL in odd positions, almost none in even ones. */
function looksUtf16le(buf: Buffer, start: number, end: number): boolean {
  const n = Math.min(end - start, 512) & ~1;
  if (n < 8) return false;
  let odd = 0;
  let even = 0;
  for (let i = start; i < start + n; i += 2) {
    if (buf[i] === 0) even++;
    if (buf[i + 1] === 0) odd++;
  }
  return odd > n / 4 && even < n / 40;
}
