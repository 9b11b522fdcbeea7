import { encode } from '@msgpack/msgpack';

export const MSGPACK_TYPES = ['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack'] as const;

export type BodyEncoding = 'json' | 'msgpack';

function isMsgpack(type: string): boolean {
  return (MSGPACK_TYPES as readonly string[]).includes(type);
}

/** The answer's encoding: what `Accept` asks for if it names one we speak, otherwise the request's own. */
export function responseEncoding(contentType: string | undefined, accept: string | undefined): { encoding: BodyEncoding; type: string } {
  const reqType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const sameAsRequest = isMsgpack(reqType) ? { encoding: 'msgpack' as const, type: reqType } : { encoding: 'json' as const, type: 'application/json' };
  if (!accept) return sameAsRequest;
  const ranked = accept
    .split(',')
    .map((part, i) => {
      const [type, ...params] = part.trim().toLowerCase().split(';');
      const q = params.map((p) => /^\s*q=([\d.]+)/.exec(p)?.[1]).find(Boolean);
      return { type: type!.trim(), q: q === undefined ? 1 : Number(q), i };
    })
    .filter((x) => x.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const { type } of ranked) {
    if (type === 'application/json') return { encoding: 'json', type: 'application/json' };
    if (isMsgpack(type)) return { encoding: 'msgpack', type };
    if (type === '*/*' || type === 'application/*') return sameAsRequest;
  }
  return sameAsRequest;
}

export function encodeBody(value: unknown, encoding: BodyEncoding): string | Buffer {
  if (encoding === 'json') return JSON.stringify(value);
  const bytes = encode(value, { ignoreUndefined: true });
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
