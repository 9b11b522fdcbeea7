import { encode } from '@msgpack/msgpack';

export const MSGPACK_TYPES = [
  'application/msgpack',
  'application/x-msgpack',
  'application/vnd.msgpack',
] as const;

export type BodyEncoding = 'json' | 'msgpack';

function isMsgpack(type: string): boolean {
  return (MSGPACK_TYPES as readonly string[]).includes(type);
}

/** The media type of a Content-Type header (or of one part of Accept): lower case, without parameters. */
export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

/**
 * What Accept prefers among the types `known` maps: the highest `q` first, in the order given among equals;
 * types with `q=0` never. Undefined when it names none of them.
 */
export function preferredType<T>(accept: string, known: (type: string) => T | undefined): T | undefined {
  const ranked = accept
    .split(',')
    .map((part, i) => {
      const [, ...params] = part.split(';');
      const q = params.map((p) => /^\s*q=([\d.]+)/i.exec(p)?.[1]).find(Boolean);
      return { type: mediaType(part), q: q === undefined ? 1 : Number(q), i };
    })
    .filter((x) => x.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const { type } of ranked) {
    const value = known(type);
    if (value !== undefined) return value;
  }
  return undefined;
}

/** The answer's encoding: what `Accept` asks for if it names one we speak, otherwise the request's own. */
export function responseEncoding(
  contentType: string | undefined,
  accept: string | undefined,
): { encoding: BodyEncoding; type: string } {
  const reqType = mediaType(contentType);
  const sameAsRequest = isMsgpack(reqType)
    ? { encoding: 'msgpack' as const, type: reqType }
    : { encoding: 'json' as const, type: 'application/json' };
  if (!accept) return sameAsRequest;
  const preferred = preferredType(accept, (type) => {
    if (type === 'application/json') return { encoding: 'json' as const, type: 'application/json' };
    if (isMsgpack(type)) return { encoding: 'msgpack' as const, type };
    if (type === '*/*' || type === 'application/*') return sameAsRequest;
    return undefined;
  });
  return preferred ?? sameAsRequest;
}

export function encodeBody(value: unknown, encoding: BodyEncoding): string | Buffer {
  if (encoding === 'json') return JSON.stringify(value);
  const bytes = encode(value, { ignoreUndefined: true });
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
