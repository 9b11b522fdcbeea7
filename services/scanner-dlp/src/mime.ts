/**
 * Walks a message with postal-mime (transfer encodings, charsets, nested multiparts) and yields the text to scan:
 * subject, body text, body HTML, text-like attachments and attached messages, recursively. Everything else is
 * recorded as not inspected, with its type, so it can never pass as clean.
 */
import PostalMime from 'postal-mime';
import type { Attachment } from 'postal-mime';

/** Why a part was not inspected. */
export type NotInspectedReason = 'unsupported' | 'encrypted' | 'too-large' | 'too-deep' | 'malformed';

/** A part (or the rest of a message) the engine did not read; `type` is a MIME type or a `*-limit` name. */
export interface NotInspected {
  type: string;
  reason: NotInspectedReason;
}

/** Text to scan, as plain text or as HTML still to convert. */
export type MimeSegment = { kind: 'text'; text: string } | { kind: 'html'; html: string };

export interface WalkOptions {
  /** Leaf parts inspected per message, nested messages included. */
  maxParts: number;
  /** Attached messages opened, counting from the top message at 0. */
  maxDepth: number;
  /** Characters of text still allowed; bounds how much of an attachment is decoded. */
  budget: () => number;
}

/** Counters and findings shared across the recursion. */
export interface WalkState {
  parts: number;
  notInspected: NotInspected[];
}

/** How an attachment is treated. */
export type PartHandling = 'text' | 'html' | 'message' | 'ignore' | { reason: 'unsupported' | 'encrypted'; type: string };

const TEXT_TYPES = new Set([
  'application/json', 'application/x-ndjson', 'application/xml', 'application/csv', 'application/x-csv', 'application/yaml',
  'application/x-yaml', 'application/toml', 'application/javascript', 'application/x-javascript', 'application/ecmascript',
  'application/x-sh', 'application/x-shellscript', 'application/sql', 'application/x-sql', 'application/x-pem-file',
  'application/pgp-keys', 'application/rtf', 'application/x-www-form-urlencoded', 'application/x-subrip',
  'message/delivery-status', 'message/global-delivery-status', 'message/disposition-notification', 'message/feedback-report',
]);
const MESSAGE_TYPES = new Set(['message/rfc822', 'message/global']);
const HTML_TYPES = new Set(['text/html', 'application/xhtml+xml']);
/** Signatures carry no content of their own. */
const IGNORED_TYPES = new Set(['application/pkcs7-signature', 'application/x-pkcs7-signature', 'application/pgp-signature']);
const ENCRYPTED_TYPES = new Set(['application/pkcs7-mime', 'application/x-pkcs7-mime', 'application/pgp-encrypted']);

const TEXT_EXTENSIONS = new Set([
  'txt', 'text', 'csv', 'tsv', 'json', 'ndjson', 'xml', 'log', 'md', 'yaml', 'yml', 'ini', 'conf', 'cfg', 'env', 'pem', 'key',
  'sql', 'js', 'ts', 'py', 'rb', 'go', 'java', 'sh', 'ps1', 'properties', 'tf', 'toml', 'rtf', 'vcf', 'ics', 'srt', 'asc',
]);
const HTML_EXTENSIONS = new Set(['html', 'htm', 'xhtml']);
const MESSAGE_EXTENSIONS = new Set(['eml']);
const ENCRYPTED_EXTENSIONS: Readonly<Record<string, string>> = {
  gpg: 'application/pgp-encrypted', pgp: 'application/pgp-encrypted', p7m: 'application/pkcs7-mime',
};
/** Names binary formats sent as application/octet-stream, so the report says what was not read. */
const BINARY_EXTENSIONS: Readonly<Record<string, string>> = {
  pdf: 'application/pdf', zip: 'application/zip', '7z': 'application/x-7z-compressed', rar: 'application/vnd.rar',
  gz: 'application/gzip', doc: 'application/msword', xls: 'application/vnd.ms-excel',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif',
};

const MIME_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$/;

/** A MIME type safe to put in results and logs (the header is sender-controlled). */
export function safeType(type: string): string {
  const t = type.trim().toLowerCase();
  return MIME_TYPE.test(t) ? t : 'application/octet-stream';
}

function extension(filename: string | null): string {
  if (!filename) return '';
  const dot = filename.lastIndexOf('.');
  return dot < 0 ? '' : filename.slice(dot + 1).toLowerCase();
}

/** Decides how to treat an attachment from its type and, for generic types, its file name extension. */
export function classifyPart(mimeType: string, filename: string | null): PartHandling {
  const type = safeType(mimeType);
  if (IGNORED_TYPES.has(type)) return 'ignore';
  if (ENCRYPTED_TYPES.has(type)) return { reason: 'encrypted', type };
  if (HTML_TYPES.has(type)) return 'html';
  if (MESSAGE_TYPES.has(type)) return 'message';
  if (type.startsWith('text/') || TEXT_TYPES.has(type) || type.endsWith('+json') || type.endsWith('+xml')) return 'text';
  const ext = extension(filename);
  const encrypted = ENCRYPTED_EXTENSIONS[ext];
  if (encrypted) return { reason: 'encrypted', type: encrypted };
  if (type === 'application/octet-stream' || type === 'application/x-download' || type === 'binary/octet-stream') {
    if (TEXT_EXTENSIONS.has(ext)) return 'text';
    if (HTML_EXTENSIONS.has(ext)) return 'html';
    if (MESSAGE_EXTENSIONS.has(ext)) return 'message';
    return { reason: 'unsupported', type: BINARY_EXTENSIONS[ext] ?? type };
  }
  return { reason: 'unsupported', type };
}

/**
 * Decodes attachment bytes whose charset postal-mime does not report: a BOM or NUL pattern means UTF-16, valid
 * UTF-8 is UTF-8, anything else is read as windows-1252 (a superset of ISO-8859-1). Reads at most what `maxChars`
 * characters can need.
 */
export function decodeText(bytes: Uint8Array, maxChars = Number.POSITIVE_INFINITY): string {
  // One UTF-16 code unit never needs more than 3 UTF-8 bytes.
  const limit = maxChars * 3 + 4;
  const truncated = bytes.length > limit;
  const b = truncated ? bytes.subarray(0, limit) : bytes;
  if (b[0] === 0xff && b[1] === 0xfe) return new TextDecoder('utf-16le').decode(b.subarray(2));
  if (b[0] === 0xfe && b[1] === 0xff) return new TextDecoder('utf-16be').decode(b.subarray(2));
  if (looksUtf16le(b)) return new TextDecoder('utf-16le').decode(b);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(b, { stream: truncated });
  } catch {
    return new TextDecoder('windows-1252').decode(b);
  }
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

function bytesOf(content: Attachment['content']): Uint8Array {
  if (typeof content === 'string') return new TextEncoder().encode(content);
  return content instanceof Uint8Array ? content : new Uint8Array(content);
}

function note(state: WalkState, item: NotInspected): void {
  if (!state.notInspected.some((n) => n.type === item.type && n.reason === item.reason)) state.notInspected.push(item);
}

/**
 * Yields the text of a message and, recursively, of attached messages. Throws when the top message cannot be
 * parsed; a nested message that cannot be parsed is recorded as malformed.
 */
export async function* walkMessage(
  raw: Uint8Array,
  options: WalkOptions,
  state: WalkState,
  depth = 0,
): AsyncGenerator<MimeSegment> {
  let email;
  try {
    email = await PostalMime.parse(raw, {
      attachmentEncoding: 'arraybuffer',
      maxRfc822NestingDepth: Math.max(0, options.maxDepth - depth),
    });
  } catch (err) {
    if (depth === 0) throw err;
    note(state, { type: 'message/rfc822', reason: 'malformed' });
    return;
  }
  state.parts++;
  if (email.subject) yield { kind: 'text', text: email.subject };
  if (email.text) yield { kind: 'text', text: email.text };
  if (email.html) yield { kind: 'html', html: email.html };
  for (const att of email.attachments) {
    const handling = classifyPart(att.mimeType, att.filename);
    if (handling === 'ignore') continue;
    if (state.parts >= options.maxParts) {
      note(state, { type: 'parts-limit', reason: 'too-large' });
      return;
    }
    state.parts++;
    if (typeof handling === 'object') {
      note(state, { type: handling.type, reason: handling.reason });
      continue;
    }
    if (handling === 'message') {
      if (att.rfc822DepthExceeded || depth >= options.maxDepth) note(state, { type: 'message/rfc822', reason: 'too-deep' });
      else yield* walkMessage(bytesOf(att.content), options, state, depth + 1);
      continue;
    }
    const budget = options.budget();
    if (budget <= 0) {
      note(state, { type: 'text-limit', reason: 'too-large' });
      continue;
    }
    const text = decodeText(bytesOf(att.content), budget);
    yield handling === 'html' ? { kind: 'html', html: text } : { kind: 'text', text };
  }
}
