/**
 * Byte-level decoding for the MIME walker: transfer encodings (base64, quoted-printable) and charsets. Everything
 * works on views of the message buffer and Node's native codecs; nothing here throws on bad input, it decodes
 * what it can (as mail clients do) and leaves the rest to the caller's limits.
 */
import { Buffer, isAscii, isUtf8 } from 'node:buffer';
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

/** Decodes a body range by its transfer encoding; identity returns a view, the others a new buffer. */
export function decodeTransfer(buf: Buffer, start: number, end: number, encoding: TransferEncoding): Buffer {
  switch (encoding) {
    case 'base64':
      return decodeBase64(buf, start, end);
    case 'quoted-printable':
      return decodeQuotedPrintable(buf, start, end);
    case 'identity':
      return buf.subarray(start, end);
  }
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
 * allowed); an `=` that starts neither stays literal. Runs between escapes are copied in one call.
 */
export function decodeQuotedPrintable(buf: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  let o = 0;
  let i = start;
  while (i < end) {
    let eq = buf.indexOf(EQ, i);
    if (eq < 0 || eq >= end) eq = end;
    o += buf.copy(out, o, i, eq);
    if (eq >= end) break;
    const h = eq + 2 < end ? hexValue(buf[eq + 1]!) : -1;
    const l = h >= 0 ? hexValue(buf[eq + 2]!) : -1;
    if (l >= 0) {
      out[o++] = (h << 4) | l;
      i = eq + 3;
      continue;
    }
    // A soft break: `=`, optional blanks, then CRLF, LF or the end of the body.
    let j = eq + 1;
    while (j < end && (buf[j] === 0x20 || buf[j] === 0x09)) j++;
    if (j >= end || buf[j] === LF || (buf[j] === CR && (j + 1 >= end || buf[j + 1] === LF))) {
      i = j >= end ? end : buf[j] === CR ? j + 2 : j + 1;
      continue;
    }
    out[o++] = EQ;
    i = eq + 1;
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
  utf8: 'utf-8', 'utf-8-bom': 'utf-8', latin1: 'windows-1252', 'iso8859-1': 'windows-1252', cp1252: 'windows-1252',
  ascii: 'windows-1252', 'us-ascii': 'windows-1252', 'ansi_x3.4-1968': 'windows-1252', 'iso-8859-8-i': 'iso-8859-8',
  'ks_c_5601-1987': 'euc-kr', 'x-sjis': 'shift_jis', cp932: 'shift_jis', 'x-gbk': 'gbk', cp936: 'gbk',
};

/**
 * Decodes text in a declared charset, reading at most what `maxChars` characters can need. Unknown or missing
 * charsets are sniffed as for attachments (`decodeText`).
 */
export function decodeCharset(bytes: Uint8Array, charset: string | undefined, maxChars = Number.POSITIVE_INFINITY): string {
  const label = charset?.trim().toLowerCase().replace(/^["']|["']$/g, '');
  if (!label) return decodeText(bytes, maxChars);
  const name = ALIASES[label] ?? label;
  const { view } = bounded(bytes, maxChars);
  if (name === 'utf-8') return asBuffer(view).toString('utf8');
  // Pure ASCII reads the same in every ASCII-compatible charset; latin1 is Node's fastest path.
  if (isSingleByteCompatible(name) && isAscii(view)) return asBuffer(view).toString('latin1');
  const decoder = decoderFor(name);
  return decoder ? decoder.decode(view) : decodeText(bytes, maxChars);
}

function isSingleByteCompatible(name: string): boolean {
  return name === 'windows-1252' || name.startsWith('iso-8859-') || name.startsWith('windows-125') || name === 'koi8-r' || name === 'koi8-u';
}

/** The first bytes of `bytes` that `maxChars` characters can need (one UTF-16 unit never needs more than 3 bytes). */
function bounded(bytes: Uint8Array, maxChars: number): { view: Uint8Array; truncated: boolean } {
  const limit = maxChars * 3 + 4;
  const truncated = bytes.length > limit;
  return { view: truncated ? bytes.subarray(0, limit) : bytes, truncated };
}

/**
 * Decodes text whose charset is not declared (attachments, mostly): a BOM or NUL pattern means UTF-16, valid
 * UTF-8 is UTF-8, anything else is read as windows-1252 (a superset of ISO-8859-1). Reads at most what `maxChars`
 * characters can need.
 */
export function decodeText(bytes: Uint8Array, maxChars = Number.POSITIVE_INFINITY): string {
  const { view: b, truncated } = bounded(bytes, maxChars);
  if (b[0] === 0xff && b[1] === 0xfe) return new TextDecoder('utf-16le').decode(b.subarray(2));
  if (b[0] === 0xfe && b[1] === 0xff) return new TextDecoder('utf-16be').decode(b.subarray(2));
  if (looksUtf16le(b)) return new TextDecoder('utf-16le').decode(b);
  // A cut may split the last UTF-8 sequence: judge the text without it.
  const whole = truncated ? b.subarray(0, utf8Boundary(b)) : b;
  if (isUtf8(whole)) return asBuffer(whole).toString('utf8');
  return decoderFor('windows-1252')!.decode(b);
}

/** Where the last complete UTF-8 sequence of `b` ends (drops a trailing partial one). */
function utf8Boundary(b: Uint8Array): number {
  const end = b.length;
  let back = 0;
  while (back < 3 && end - back > 0 && (b[end - back - 1]! & 0xc0) === 0x80) back++;
  const lead = b[end - back - 1];
  if (lead === undefined || lead < 0xc0) return end;
  const need = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : 1;
  return back >= need ? end : end - back - 1;
}

/** UTF-16LE text without a BOM: mostly NUL in odd positions, almost none in even ones. */
function looksUtf16le(b: Uint8Array): boolean {
  const n = Math.min(b.length, 512) & ~1;
  if (n < 8) return false;
  let odd = 0;
  let even = 0;
  for (let i = 0; i < n; i += 2) {
    if (b[i] === 0) even++;
    if (b[i + 1] === 0) odd++;
  }
  return odd > n / 4 && even < n / 40;
}
