/**
 * A purpose-built MIME walker for DLP (docs/adr/0006-dlp-mime-parsing.md). It reads the raw message in one pass
 * over views of its bytes (boundaries found with Buffer.indexOf, bodies decoded by Node's codecs, charsets by
 * TextDecoder) and yields only what the engine scans: subjects, text and HTML bodies, text-like attachments and,
 * recursively, attached messages. Every other part is recorded as not inspected with its type.
 *
 * Bad input never throws, except multipart nesting beyond MAX_MULTIPART_DEPTH in the top message (the engine
 * reports an error: such a message is not read at all). Work is linear in the message size times the (bounded)
 * number of open boundaries.
 */
import { Buffer } from 'node:buffer';
import { MIME_TYPE, classifyPart, safeType, type NotInspected, type PartHandling } from './classify.js';
import { asBuffer, decodeCharset, decodeTransfer, transferEncoding } from './decode.js';
import { decodeWords, parseStructured, readHeaders, type PartHeaders, type Structured } from './headers.js';

/** Text to scan, as plain text or as HTML still to convert. */
export type MimeSegment = { kind: 'text'; text: string } | { kind: 'html'; html: string };

export interface WalkOptions {
  /** Leaf parts inspected per message, nested messages included. */
  maxParts: number;
  /** Attached messages opened, counting from the top message at 0. */
  maxDepth: number;
  /** Characters of text still allowed; bounds how much of a part is turned into text. */
  budget: () => number;
}

/** Counters and findings shared across the recursion. */
export interface WalkState {
  parts: number;
  notInspected: NotInspected[];
  /** Set when `maxParts` is reached: nothing more is read. */
  stopped?: boolean;
}

/** Multiparts nested deeper than this in one message are refused (postal-mime, used before, allowed 256). */
export const MAX_MULTIPART_DEPTH = 64;
/** RFC 2046 allows 70 characters; longer boundaries are read as a malformed multipart. */
const MAX_BOUNDARY = 200;

/** Thrown only for structure too deep to read; a nested message with it is recorded as malformed instead. */
export class MimeStructureError extends Error {
  override name = 'MimeStructureError';
}

interface Frame {
  /** `--` + boundary; read as latin1, so each character code is the byte to match. */
  delimiter: string;
  subtype: string;
}

interface Delimiter {
  /** Index of the open frame it belongs to. */
  frame: number;
  close: boolean;
  /** Where the content before it ends (the line break before the delimiter belongs to the delimiter). */
  contentEnd: number;
  lineStart: number;
  /** Where the line after it starts. */
  next: number;
}

const NL_DASHES = Buffer.from('\n--', 'latin1');

function note(state: WalkState, item: NotInspected): void {
  if (!state.notInspected.some((n) => n.type === item.type && n.reason === item.reason))
    state.notInspected.push(item);
}

/**
 * Yields the text of a message and, recursively, of attached messages. Throws a MimeStructureError only when the
 * top message nests multiparts deeper than MAX_MULTIPART_DEPTH.
 */
export function* walkMessage(
  raw: Uint8Array,
  options: WalkOptions,
  state: WalkState,
  depth = 0,
): Generator<MimeSegment> {
  const buf = asBuffer(raw);
  const frames: Frame[] = [];
  let start = 0;
  let subjectRead = false;
  for (;;) {
    const headers = readPartHeaders(buf, start, frames);
    if (!subjectRead) {
      subjectRead = true;
      if (headers.subject) yield { kind: 'text', text: decodeWords(headers.subject) };
    }
    const contentType = parseStructured(headers.contentType);
    const parentSubtype = frames.at(-1)?.subtype;
    const type = MIME_TYPE.test(contentType.value)
      ? contentType.value
      : parentSubtype === 'digest'
        ? 'message/rfc822'
        : 'text/plain';
    let next: Delimiter | undefined;
    const boundary = type.startsWith('multipart/') ? contentType.params.get('boundary') : undefined;
    if (boundary && boundary.length <= MAX_BOUNDARY) {
      if (frames.length >= MAX_MULTIPART_DEPTH)
        throw new MimeStructureError(`MIME multiparts nested deeper than ${MAX_MULTIPART_DEPTH} levels`);
      frames.push({ delimiter: `--${boundary}`, subtype: type.slice(10) });
      // The preamble before the first delimiter is not shown by mail clients and is not read.
      next = findDelimiter(buf, headers.bodyStart, buf.length, frames);
      if (!next || next.frame !== frames.length - 1) {
        // The boundary never appears: read the body as text so nothing in it passes unread, and say so.
        frames.pop();
        note(state, { type: safeType(type), reason: 'malformed' });
        const out = leaf(
          buf,
          headers,
          { value: 'text/plain', params: contentType.params },
          headers.bodyStart,
          next?.contentEnd ?? buf.length,
          options,
          state,
          depth,
        );
        if (out) yield* out;
      }
    } else {
      if (type.startsWith('multipart/')) note(state, { type: safeType(type), reason: 'malformed' });
      next = frames.length > 0 ? findDelimiter(buf, headers.bodyStart, buf.length, frames) : undefined;
      const readAs = type.startsWith('multipart/')
        ? { value: 'text/plain', params: contentType.params }
        : { ...contentType, value: type };
      const out = leaf(
        buf,
        headers,
        readAs,
        headers.bodyStart,
        next?.contentEnd ?? buf.length,
        options,
        state,
        depth,
      );
      if (out) yield* out;
    }
    if (state.stopped) return;
    // Close frames up to the next part (or the end of the message).
    while (next?.close) {
      frames.length = next.frame;
      next = frames.length > 0 ? findDelimiter(buf, next.next, buf.length, frames) : undefined;
    }
    if (!next) return;
    frames.length = next.frame + 1;
    start = next.next;
  }
}

/** A part's headers, cut short when a delimiter comes before the blank line (such a part has no body). */
function readPartHeaders(buf: Buffer, start: number, frames: readonly Frame[]): PartHeaders {
  const headers = readHeaders(buf, start, buf.length);
  if (frames.length === 0) return headers;
  const cut = findDelimiter(buf, start, headers.bodyStart, frames);
  return cut ? readHeaders(buf, start, cut.lineStart) : headers;
}

/**
 * The first delimiter line of an open frame starting in `[from, until)`; the innermost frame wins. `from` is
 * always a line start. A delimiter is `--boundary`, optionally `--`, then only blanks to the line end. Short
 * ranges (header blocks) are searched with a loop, long ones with Buffer.indexOf (fast, but costly per call).
 */
function findDelimiter(
  buf: Buffer,
  from: number,
  until: number,
  frames: readonly Frame[],
): Delimiter | undefined {
  let line = from;
  while (line < until) {
    if (buf[line] === 0x2d && buf[line + 1] === 0x2d) {
      const d = matchDelimiter(buf, line, from, frames);
      if (d) return d;
    }
    let nl: number;
    if (until - line < 512) {
      nl = line;
      while (nl < until && !(buf[nl] === 0x0a && buf[nl + 1] === 0x2d && buf[nl + 2] === 0x2d)) nl++;
      if (nl >= until) return undefined;
    } else {
      nl = buf.indexOf(NL_DASHES, line);
      if (nl < 0) return undefined;
    }
    line = nl + 1;
  }
  return undefined;
}

function matchDelimiter(
  buf: Buffer,
  line: number,
  from: number,
  frames: readonly Frame[],
): Delimiter | undefined {
  for (let f = frames.length - 1; f >= 0; f--) {
    const delimiter = frames[f]!.delimiter;
    let p = line + delimiter.length;
    // The last byte first: boundaries that share a long prefix then cost one comparison each, not a prefix scan.
    if (p > buf.length || buf[p - 1] !== delimiter.charCodeAt(delimiter.length - 1)) continue;
    let k = 2;
    while (k < delimiter.length && buf[line + k] === delimiter.charCodeAt(k)) k++;
    if (k < delimiter.length) continue;
    const close = buf[p] === 0x2d && buf[p + 1] === 0x2d;
    if (close) p += 2;
    while (p < buf.length && (buf[p] === 0x20 || buf[p] === 0x09)) p++;
    if (buf[p] === 0x0d) p++;
    if (p < buf.length && buf[p] !== 0x0a) continue;
    const contentEnd =
      line === from ? line : buf[line - 2] === 0x0d && line - 2 >= from ? line - 2 : line - 1;
    return { frame: f, close, contentEnd, lineStart: line, next: Math.min(buf.length, p + 1) };
  }
  return undefined;
}

/** Text parts shown as the message body; other text types and `attachment` parts go through classifyPart. */
function bodyHandling(type: string, disposition: Structured, filename: string | null): PartHandling {
  if (disposition.value !== 'attachment') {
    if (type === 'text/plain') return 'text';
    if (type === 'text/html') return 'html';
  }
  return classifyPart(type, filename);
}

/**
 * One leaf part: its text or HTML, an attached message to walk, or nothing (a not-inspected note, a limit). Not
 * a generator itself: most parts yield one segment, and a generator per part is measurable on small mail.
 */
function leaf(
  buf: Buffer,
  headers: PartHeaders,
  contentType: Structured,
  start: number,
  end: number,
  options: WalkOptions,
  state: WalkState,
  depth: number,
): Iterable<MimeSegment> | undefined {
  const disposition = parseStructured(headers.disposition);
  const rawName = disposition.params.get('filename') ?? contentType.params.get('name');
  const filename = rawName === undefined ? null : decodeWords(rawName);
  const type = contentType.value;
  const handling = bodyHandling(type, disposition, filename);
  if (handling === 'ignore') return undefined;
  if (state.parts >= options.maxParts) {
    note(state, { type: 'parts-limit', reason: 'too-large' });
    state.stopped = true;
    return undefined;
  }
  state.parts++;
  if (typeof handling === 'object') {
    note(state, { type: handling.type, reason: handling.reason });
    return undefined;
  }
  const encoding = transferEncoding(headers.transferEncoding);
  end = Math.max(start, end);
  if (encoding !== 'identity') {
    buf = decodeTransfer(buf, start, end, encoding);
    start = 0;
    end = buf.length;
  }
  if (handling === 'message') {
    if (depth >= options.maxDepth) {
      note(state, { type: 'message/rfc822', reason: 'too-deep' });
      return undefined;
    }
    return nested(buf.subarray(start, end), options, state, depth + 1);
  }
  const budget = options.budget();
  if (budget <= 0) {
    note(state, { type: 'text-limit', reason: 'too-large' });
    return undefined;
  }
  // A declared charset is trusted for body text (as mail clients do); attachments are often mislabelled and
  // sniffed (no charset means the same).
  const charset =
    type === 'text/plain' || type === 'text/html' ? contentType.params.get('charset') : undefined;
  // HTML shrinks when converted; the engine cuts it at 8x the budget.
  if (handling === 'html')
    return [{ kind: 'html', html: decodeCharset(buf, start, end, charset, budget * 8) }];
  let text = decodeCharset(buf, start, end, charset, budget);
  if (contentType.params.get('format')?.toLowerCase() === 'flowed')
    text = unflow(text, contentType.params.get('delsp')?.toLowerCase() === 'yes');
  return [{ kind: 'text', text }];
}

/** An attached message, walked recursively; one that is too deep to read is recorded as malformed. */
function* nested(raw: Buffer, options: WalkOptions, state: WalkState, depth: number): Generator<MimeSegment> {
  try {
    yield* walkMessage(raw, options, state, depth);
  } catch (err) {
    if (!(err instanceof MimeStructureError)) throw err;
    note(state, { type: 'message/rfc822', reason: 'malformed' });
  }
}

/**
 * RFC 3676 format=flowed: a line ending in a space continues on the next one (a card number wrapped by the
 * sender's client reads whole again); space-stuffing is removed; the signature separator `-- ` stays a line.
 */
export function unflow(text: string, delsp: boolean): string {
  const lines = text.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.startsWith(' ')) line = line.slice(1);
    const last = i === lines.length - 1;
    if (!last && line.endsWith(' ') && line !== '-- ') out.push(delsp ? line.slice(0, -1) : line);
    else out.push(last ? line : `${line}\n`);
  }
  return out.join('');
}
