/**
 * Header parsing for the MIME walker. Only the fields that decide how a part is read are kept (Content-Type,
 * Content-Transfer-Encoding, Content-Disposition) plus Subject; the rest is skipped without building strings.
 * Linear in the header size whatever the input: no backtracking regexes over sender-controlled text.
 */
import { Buffer } from 'node:buffer';
import { decodeCharset } from './decode.js';

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;

/** Content-* values longer than this are cut before parsing: no legitimate one comes close. */
const MAX_FIELD_CHARS = 16_384;
/** Subjects are cut here; Postfix's own header_size_limit (100 KiB) is well below it. */
const MAX_SUBJECT_CHARS = 262_144;

/** The header fields the walker uses, raw (unfolded, not decoded); the first occurrence of each wins. */
export interface PartHeaders {
  contentType?: string;
  transferEncoding?: string;
  disposition?: string;
  /** Raw bytes range of the Subject value, decoded only when asked for. */
  subject?: string;
  /** Where the body starts (after the blank line), or `end` when there is none. */
  bodyStart: number;
}

type Field = 'contentType' | 'transferEncoding' | 'disposition' | 'subject';

/** Which kept field a name is, from its bytes, without allocating. */
function fieldOf(buf: Buffer, start: number, end: number): Field | undefined {
  // Blanks before the colon are tolerated (`Subject :`, old style).
  while (end > start && (buf[end - 1] === SP || buf[end - 1] === HT)) end--;
  const len = end - start;
  const c = buf[start]! | 0x20;
  if (c === 0x73 /* s */) return len === 7 && nameIs(buf, start, 'subject') ? 'subject' : undefined;
  if (c !== 0x63 /* c */ || len < 12 || !nameIs(buf, start, 'content-')) return undefined;
  if (len === 12 && nameIs(buf, start + 8, 'type')) return 'contentType';
  if (len === 25 && nameIs(buf, start + 8, 'transfer-encoding')) return 'transferEncoding';
  if (len === 19 && nameIs(buf, start + 8, 'disposition')) return 'disposition';
  return undefined;
}

function nameIs(buf: Buffer, at: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) if ((buf[at + i]! | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/**
 * Reads the header block of the entity starting at `start`, up to `end`. The block ends at a blank line, or at
 * the first line that is neither a field nor a continuation (a message that forgot the blank line still has its
 * body read, never dropped as headers). A leading mbox `From ` line is skipped.
 */
export function readHeaders(buf: Buffer, start: number, end: number): PartHeaders {
  const out: PartHeaders = { bodyStart: end };
  let pos = start;
  if (
    end - pos > 5 &&
    buf[pos] === 0x46 &&
    buf[pos + 4] === SP &&
    buf.toString('latin1', pos, pos + 5) === 'From '
  ) {
    while (pos < end && buf[pos] !== LF) pos++;
    pos = Math.min(end, pos + 1);
  }
  let field: Field | undefined;
  let value = '';
  const flush = (): void => {
    if (field && out[field] === undefined) out[field] = value;
    field = undefined;
    value = '';
  };
  // Plain loops, each byte read once: header lines are short, and Buffer.indexOf costs more per call than it saves.
  const lineEndFrom = (from: number): number => {
    while (from < end && buf[from] !== LF) from++;
    return from;
  };
  while (pos < end) {
    const first = buf[pos]!;
    if (first === LF || (first === CR && (pos + 1 >= end || buf[pos + 1] === LF))) {
      flush();
      out.bodyStart = Math.min(end, first === LF ? pos + 1 : pos + 2);
      return out;
    }
    if (first === SP || first === HT) {
      // Folded continuation: unfolding drops the line break and keeps the blank.
      const nl = lineEndFrom(pos);
      const lineEnd = nl > pos && buf[nl - 1] === CR ? nl - 1 : nl;
      if (field && value.length < maxChars(field)) value += text(buf, pos, lineEnd, field);
      pos = Math.min(end, nl + 1);
      continue;
    }
    // The name runs to the colon: printable ASCII, blanks tolerated only right before the colon.
    let colon = pos;
    let c = first;
    while (c > 0x20 && c < 0x7f && c !== COLON && ++colon < end) c = buf[colon]!;
    if (c === SP || c === HT) {
      while (colon < end && (buf[colon] === SP || buf[colon] === HT)) colon++;
      c = colon < end ? buf[colon]! : 0;
    }
    if (c !== COLON || colon === pos || colon >= end) {
      flush();
      out.bodyStart = pos;
      return out;
    }
    flush();
    field = fieldOf(buf, pos, colon);
    const nl = lineEndFrom(colon);
    if (field) {
      const lineEnd = buf[nl - 1] === CR ? nl - 1 : nl;
      colon++;
      while (colon < lineEnd && (buf[colon] === SP || buf[colon] === HT)) colon++;
      value = text(buf, colon, lineEnd, field);
    }
    pos = Math.min(end, nl + 1);
  }
  flush();
  return out;
}

/** Subject may carry raw UTF-8 (RFC 6532); the Content-* fields are ASCII, and latin1 keeps boundary bytes exact. */
function text(buf: Buffer, start: number, end: number, field: Field): string {
  const stop = Math.min(end, start + maxChars(field));
  if (field !== 'subject') return buf.toString('latin1', start, stop);
  for (let i = start; i < stop; i++) if (buf[i]! >= 0x80) return decodeCharset(buf, start, stop, undefined);
  return buf.toString('latin1', start, stop);
}

function maxChars(field: Field): number {
  return field === 'subject' ? MAX_SUBJECT_CHARS : MAX_FIELD_CHARS;
}

/** A structured field (`type/subtype; name=value; …`): the lower-cased value and its parameters (names lower-cased). */
export interface Structured {
  value: string;
  params: ReadonlyMap<string, string>;
}

const EMPTY: Structured = { value: '', params: new Map() };
/**
 * Parses a Content-Type or Content-Disposition value: quoted strings with backslash escapes, comments dropped,
 * the first of duplicate parameters kept, RFC 2231 continuations (`name*0`, `name*1*`) and charset-tagged values
 * (`name*=utf-8''…`) joined and decoded.
 */
export function parseStructured(input: string | undefined): Structured {
  if (!input) return EMPTY;
  // Most values repeat from message to message (`text/plain; charset=utf-8`): parse each once. Results are never
  // mutated; the cache is dropped when full, so sender-chosen values cannot grow it.
  let parsed = parsedCache.get(input);
  if (!parsed) {
    if (parsedCache.size >= PARSED_CACHE_SIZE) parsedCache.clear();
    parsedCache.set(input, (parsed = parseUncached(input)));
  }
  return parsed;
}

const PARSED_CACHE_SIZE = 1024;
const parsedCache = new Map<string, Structured>();

function parseUncached(input: string): Structured {
  const params = new Map<string, string>();
  if (!/[(\\*]/.test(input)) {
    // The common case (`multipart/mixed; boundary="=_abc"`): no comments, escapes or RFC 2231 sections, and
    // quotes only around whole values. Anything else takes the careful path below.
    let semi = input.indexOf(';');
    const value = (semi < 0 ? input : input.slice(0, semi)).trim().toLowerCase();
    let simple = !value.includes('"');
    while (simple && semi >= 0) {
      const from = semi + 1;
      semi = input.indexOf(';', from);
      const to = semi < 0 ? input.length : semi;
      const eq = input.indexOf('=', from);
      if (eq < 0 || eq > to) continue;
      const name = input.slice(from, eq).trim().toLowerCase();
      let v = input.slice(eq + 1, to).trim();
      const q = v.indexOf('"');
      if (q >= 0) {
        if (q !== 0 || v.length < 2 || v.indexOf('"', 1) !== v.length - 1) simple = false;
        v = v.slice(1, -1);
      }
      if (name.includes('"')) simple = false;
      if (simple && name && !params.has(name)) params.set(name, v);
    }
    if (simple) return { value, params };
    params.clear();
  }
  const parts: Array<[string, string]> = [];
  let i = 0;
  const n = input.length;
  const skipBlanks = (): void => {
    for (;;) {
      while (i < n && (input[i] === ' ' || input[i] === '\t')) i++;
      if (input[i] !== '(') return;
      // A comment, possibly nested; unterminated runs to the end.
      let depth = 0;
      for (; i < n; i++) {
        if (input[i] === '\\') i++;
        else if (input[i] === '(') depth++;
        else if (input[i] === ')' && --depth === 0) {
          i++;
          break;
        }
      }
    }
  };
  const readValue = (): string => {
    skipBlanks();
    if (input[i] === '"') {
      let v = '';
      for (i++; i < n && input[i] !== '"'; i++) v += input[i] === '\\' && i + 1 < n ? input[++i] : input[i];
      i++;
      // Junk after a closed quoted string is dropped up to the next parameter.
      while (i < n && input[i] !== ';') i++;
      return v;
    }
    const from = i;
    while (i < n && input[i] !== ';' && input[i] !== '(') i++;
    const v = input.slice(from, i).trim();
    skipBlanks();
    while (i < n && input[i] !== ';') i++;
    return v;
  };
  const value = readValue().toLowerCase();
  while (i < n) {
    i++; // the ';'
    skipBlanks();
    const from = i;
    while (i < n && input[i] !== '=' && input[i] !== ';') i++;
    const name = input.slice(from, i).trim().toLowerCase();
    if (input[i] !== '=') continue;
    i++;
    const v = readValue();
    if (name) parts.push([name, v]);
  }
  joinContinuations(parts, params);
  return { value, params };
}

/** RFC 2231: `name*0`, `name*1*`… joined in order, `*`-sections percent-decoded in the declared charset. */
function joinContinuations(parts: ReadonlyArray<[string, string]>, params: Map<string, string>): void {
  const sections = new Map<string, Array<{ n: number; v: string; encoded: boolean }>>();
  for (const [name, v] of parts) {
    const m = /^([^*]+)\*(?:(\d{1,3})\*?)?$/.exec(name);
    if (!m) {
      if (!params.has(name)) params.set(name, v);
      continue;
    }
    const list = sections.get(m[1]!) ?? [];
    sections.set(m[1]!, list);
    if (list.length < 1000) list.push({ n: Number(m[2] ?? 0), v, encoded: name.endsWith('*') });
  }
  for (const [name, list] of sections) {
    list.sort((a, b) => a.n - b.n);
    let charset: string | undefined;
    const bytes: number[] = [];
    list.forEach((s, idx) => {
      let v = s.v;
      if (s.encoded && idx === 0) {
        const m = /^([^']*)'[^']*'/.exec(v);
        if (m) {
          charset = m[1];
          v = v.slice(m[0].length);
        }
      }
      if (s.encoded) percentBytes(v, bytes);
      else for (let k = 0; k < v.length; k++) bytes.push(v.charCodeAt(k) & 0xff);
    });
    // A tagged parameter overrides a plain one of the same name (RFC 2231 §4: it is the better spelling).
    const decoded = Buffer.from(bytes);
    params.set(name, decodeCharset(decoded, 0, decoded.length, charset || 'utf-8'));
  }
}

function percentBytes(v: string, out: number[]): void {
  for (let k = 0; k < v.length; k++) {
    const c = v.charCodeAt(k);
    if (c === 0x25 && /^[0-9a-f]{2}$/i.test(v.slice(k + 1, k + 3))) {
      out.push(parseInt(v.slice(k + 1, k + 3), 16));
      k += 2;
      continue;
    }
    out.push(c & 0xff);
  }
}

const ENCODED_WORD = /=\?([^?\s]{1,64})\?([BbQq])\?([^?\s]*)\?=/g;

/**
 * Decodes RFC 2047 encoded words (`=?utf-8?B?…?=`, `=?iso-8859-1?Q?…?=`). Blanks between adjacent encoded words
 * go; adjacent words in one charset are joined as bytes first, so a character split across two words survives.
 */
export function decodeWords(input: string): string {
  if (!input.includes('=?')) return input;
  let out = '';
  let last = 0;
  let pending: { charset: string; bytes: Buffer[] } | undefined;
  const flush = (): void => {
    if (pending) {
      const bytes = Buffer.concat(pending.bytes);
      out += decodeCharset(bytes, 0, bytes.length, pending.charset.split('*')[0]);
    }
    pending = undefined;
  };
  ENCODED_WORD.lastIndex = 0;
  for (let m = ENCODED_WORD.exec(input); m; m = ENCODED_WORD.exec(input)) {
    const between = input.slice(last, m.index);
    if (!pending || between.trim() !== '') {
      flush();
      out += between;
    }
    const charset = m[1]!.toLowerCase();
    const bytes = m[2] === 'B' || m[2] === 'b' ? Buffer.from(m[3]!, 'base64') : qWord(m[3]!);
    if (pending && pending.charset === charset) pending.bytes.push(bytes);
    else {
      flush();
      pending = { charset, bytes: [bytes] };
    }
    last = m.index + m[0].length;
  }
  flush();
  return out + input.slice(last);
}

/** The Q encoding: `_` is a space, `=XX` a byte. */
function qWord(s: string): Buffer {
  const bytes: number[] = [];
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c === 0x5f) bytes.push(0x20);
    else if (c === 0x3d && /^[0-9a-f]{2}$/i.test(s.slice(k + 1, k + 3))) {
      bytes.push(parseInt(s.slice(k + 1, k + 3), 16));
      k += 2;
    } else bytes.push(c & 0xff);
  }
  return Buffer.from(bytes);
}
