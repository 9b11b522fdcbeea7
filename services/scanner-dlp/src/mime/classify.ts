/**
 * How the walker treats a MIME part: read as text or HTML, opened as a message, ignored, or named as not
 * inspected (with its type) so it can never pass as clean.
 */

/** Why a part was not inspected. */
export type NotInspectedReason = 'unsupported' | 'encrypted' | 'too-large' | 'too-deep' | 'malformed';

/** A part (or the rest of a message) the engine did not read; `type` is a MIME type or a `*-limit` name. */
export interface NotInspected {
  type: string;
  reason: NotInspectedReason;
}

/** How an attachment is treated. */
export type PartHandling =
  'text' | 'html' | 'message' | 'ignore' | { reason: 'unsupported' | 'encrypted'; type: string };

const TEXT_TYPES = new Set([
  'application/json',
  'application/x-ndjson',
  'application/xml',
  'application/csv',
  'application/x-csv',
  'application/yaml',
  'application/x-yaml',
  'application/toml',
  'application/javascript',
  'application/x-javascript',
  'application/ecmascript',
  'application/x-sh',
  'application/x-shellscript',
  'application/sql',
  'application/x-sql',
  'application/x-pem-file',
  'application/pgp-keys',
  'application/rtf',
  'application/x-www-form-urlencoded',
  'application/x-subrip',
  'message/delivery-status',
  'message/global-delivery-status',
  'message/disposition-notification',
  'message/feedback-report',
]);
const MESSAGE_TYPES = new Set(['message/rfc822', 'message/global']);
const HTML_TYPES = new Set(['text/html', 'application/xhtml+xml']);
/** Signatures carry no content of their own. */
const IGNORED_TYPES = new Set([
  'application/pkcs7-signature',
  'application/x-pkcs7-signature',
  'application/pgp-signature',
]);
const ENCRYPTED_TYPES = new Set([
  'application/pkcs7-mime',
  'application/x-pkcs7-mime',
  'application/pgp-encrypted',
]);

const TEXT_EXTENSIONS = new Set([
  'txt',
  'text',
  'csv',
  'tsv',
  'json',
  'ndjson',
  'xml',
  'log',
  'md',
  'yaml',
  'yml',
  'ini',
  'conf',
  'cfg',
  'env',
  'pem',
  'key',
  'sql',
  'js',
  'ts',
  'py',
  'rb',
  'go',
  'java',
  'sh',
  'ps1',
  'properties',
  'tf',
  'toml',
  'rtf',
  'vcf',
  'ics',
  'srt',
  'asc',
]);
const HTML_EXTENSIONS = new Set(['html', 'htm', 'xhtml']);
const MESSAGE_EXTENSIONS = new Set(['eml']);
const ENCRYPTED_EXTENSIONS: Readonly<Record<string, string>> = {
  gpg: 'application/pgp-encrypted',
  pgp: 'application/pgp-encrypted',
  p7m: 'application/pkcs7-mime',
};
/** Names binary formats sent as application/octet-stream, so the report says what was not read. */
const BINARY_EXTENSIONS: Readonly<Record<string, string>> = {
  pdf: 'application/pdf',
  zip: 'application/zip',
  '7z': 'application/x-7z-compressed',
  rar: 'application/vnd.rar',
  gz: 'application/gzip',
  doc: 'application/msword',
  xls: 'application/vnd.ms-excel',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
};

/** type/subtype as RFC 2045 tokens; anything else is not a usable type. */
export const MIME_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$/;

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
  if (type.startsWith('text/') || TEXT_TYPES.has(type) || type.endsWith('+json') || type.endsWith('+xml'))
    return 'text';
  const ext = extension(filename);
  const encrypted = ENCRYPTED_EXTENSIONS[ext];
  if (encrypted) return { reason: 'encrypted', type: encrypted };
  if (
    type === 'application/octet-stream' ||
    type === 'application/x-download' ||
    type === 'binary/octet-stream'
  ) {
    if (TEXT_EXTENSIONS.has(ext)) return 'text';
    if (HTML_EXTENSIONS.has(ext)) return 'html';
    if (MESSAGE_EXTENSIONS.has(ext)) return 'message';
    return { reason: 'unsupported', type: BINARY_EXTENSIONS[ext] ?? type };
  }
  return { reason: 'unsupported', type };
}
