/** How draft-01 bodies travel: JSON or CBOR in, the same (or what Accept prefers) out. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DRAFT01_ERRORS, type Draft01Serialization } from '@hookgate/contracts';
import { CBOR_TYPE, encodeCbor } from '../plugins/cbor.js';
import { mediaType, preferredType } from '../plugins/encoding.js';
import { HttpError } from '../errors.js';

export type Wire = Draft01Serialization;

/** The format of a request body; anything but JSON or CBOR is refused (415). */
export function bodyFormat(req: FastifyRequest): Wire {
  const t = mediaType(req.headers['content-type']);
  if (t === CBOR_TYPE) return 'cbor';
  if (t === 'application/json' || t === '') return 'json';
  throw new HttpError(
    DRAFT01_ERRORS.UNSUPPORTED_MEDIA_TYPE,
    `unsupported Content-Type "${t.slice(0, 64)}": send application/json or application/cbor`,
  );
}

/** The answer format: the request body's, else what Accept prefers (CBOR only when asked for), else JSON. */
export function answerFormat(req: FastifyRequest): Wire {
  const t = mediaType(req.headers['content-type']);
  if (t === CBOR_TYPE) return 'cbor';
  if (t === 'application/json') return 'json';
  const accept = req.headers.accept;
  if (!accept) return 'json';
  const known = (type: string): Wire | undefined =>
    type === CBOR_TYPE
      ? 'cbor'
      : type === 'application/json' || type === '*/*' || type === 'application/*'
        ? 'json'
        : undefined;
  return preferredType(accept, known) ?? 'json';
}

/** Binary values are Base64 in JSON and byte strings in CBOR. */
function toJsonValue(value: unknown): unknown {
  if (value instanceof Uint8Array)
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJsonValue(v)]));
  return value;
}

export function send(reply: FastifyReply, status: number, wire: Wire, value: unknown): FastifyReply {
  if (wire === 'cbor') return reply.code(status).type(CBOR_TYPE).send(encodeCbor(value));
  return reply
    .code(status)
    .type('application/json')
    .send(JSON.stringify(toJsonValue(value)));
}
