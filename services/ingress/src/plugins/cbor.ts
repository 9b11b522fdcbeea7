/**
 * CBOR (RFC 8949) for draft-01 hook calls: a strict decoder for MTA input and a plain encoder for answers.
 *
 * Input is a trust boundary. cbor-x understands many tags (records, typed arrays, Sets, Errors...) that the draft
 * never uses; after decoding, only the JSON data model plus byte strings is kept: maps with string keys become plain
 * objects, byte strings become Buffers, dates (tags 0 and 1) become RFC 3339 strings (the draft keeps dates as
 * strings), `undefined` becomes null. Anything else is refused as a malformed body.
 */
import type { FastifyInstance } from 'fastify';
import { Decoder, Encoder } from 'cbor-x';
import { ERRORS, errorMessage } from '@hookgate/contracts';
import { HttpError } from '../errors.js';

export const CBOR_TYPE = 'application/cbor';

const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });
// Plain maps and byte strings only: no record extension, no tag 64 on Uint8Array (plain objects never get tag 259).
const encoder = new Encoder({ useRecords: false, tagUint8Array: false, variableMapSize: true });

/** Nesting deeper than this is refused (no draft structure comes close). */
const MAX_DEPTH = 64;

export class CborError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CborError';
  }
}

function normalize(value: unknown, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new CborError('CBOR nesting too deep');
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (value === undefined) return null;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new CborError('CBOR number is not finite');
    return value;
  }
  if (typeof value === 'bigint') {
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER))
      throw new CborError('CBOR integer out of range');
    return Number(value);
  }
  if (value instanceof Uint8Array)
    return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new CborError('CBOR date is invalid');
    return value.toISOString();
  }
  if (Array.isArray(value)) return value.map((v) => normalize(v, depth + 1));
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null)
      throw new CborError('CBOR value of an unsupported type (tagged item)');
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === '__proto__' || k === 'constructor' || k === 'prototype')
        throw new CborError(`CBOR map key "${k}" is not allowed`);
      out[k] = normalize(v, depth + 1);
    }
    return out;
  }
  throw new CborError(`CBOR value of an unsupported type (${typeof value})`);
}

/** Decodes one CBOR data item (no trailing bytes) into the JSON data model plus Buffers. Throws CborError. */
export function decodeCbor(bytes: Buffer): unknown {
  if (bytes.byteLength === 0) throw new CborError('empty CBOR body');
  let value: unknown;
  try {
    value = decoder.decode(bytes);
  } catch (err) {
    throw new CborError(`body is not valid CBOR: ${errorMessage(err)}`);
  }
  return normalize(value, 0);
}

/** Encodes plain data (objects, arrays, strings, numbers, booleans, null, Buffers) as CBOR; undefined is omitted. */
export function encodeCbor(value: unknown): Buffer {
  return encoder.encode(stripUndefined(value));
}

function stripUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripUndefined);
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = stripUndefined(v);
    return out;
  }
  return value;
}

/**
 * Registers the `application/cbor` body parser on a (child) fastify scope. A body that does not decode is passed
 * on as REQUEST_INVALID, which the scope's error handler writes in its protocol's error body.
 */
export function registerCborParser(scope: FastifyInstance): void {
  scope.addContentTypeParser(CBOR_TYPE, { parseAs: 'buffer' }, (_req, body: Buffer, done) => {
    try {
      done(null, decodeCbor(body));
    } catch (err) {
      done(new HttpError(ERRORS.REQUEST_INVALID, errorMessage(err)), undefined);
    }
  });
}
