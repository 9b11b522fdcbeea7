/**
 * Nesting limits for request bodies, checked before a body is decoded. JSON.parse and the MessagePack decoder
 * allocate one object per level and run in time linear in the depth, so a body of `[[[[…` or `0x91 0x91 …` within
 * the body limit held the event loop for seconds and the heap for hundreds of MiB (measured on a shared two-core
 * machine: 5,000,000 levels, 10 MB of JSON, 6.7 s and 274 MiB; 5 MB of MessagePack, 2.4 s). No MTA Hooks structure
 * nests beyond a handful of levels; CBOR bodies have the same limit in plugins/cbor.ts.
 */
import type { FastifyInstance } from 'fastify';
import { ERRORS } from '@hookgate/contracts';
import { HttpError } from '../errors.js';

/** Deepest nesting of arrays and objects accepted in a request body. */
export const MAX_NESTING = 64;

/** True when the JSON text nests arrays/objects deeper than `max` (a scan that skips strings; no allocation). */
export function jsonNestsDeeper(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * True when the MessagePack bytes nest arrays/maps deeper than `max`. Walks the type bytes only, skipping
 * payloads; a truncated or malformed body stops the walk and is left to the decoder to refuse.
 */
export function msgpackNestsDeeper(b: Uint8Array, max: number): boolean {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  // Items still to read in each open container, innermost last.
  const open: number[] = [];
  let i = 0;
  const item = (): boolean => {
    // One item read: close every container it completes.
    for (;;) {
      const last = open.length - 1;
      if (last < 0) return false;
      if (--open[last]! > 0) return false;
      open.pop();
    }
  };
  const container = (n: number): boolean => {
    if (n === 0) return item();
    open.push(n);
    return open.length > max;
  };
  while (i < b.length) {
    const t = b[i++]!;
    let skip = 0;
    let n = -1;
    if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) skip = 0;
    else if (t >= 0x80 && t <= 0x8f) n = (t & 0x0f) * 2;
    else if (t >= 0x90 && t <= 0x9f) n = t & 0x0f;
    else if (t >= 0xa0 && t <= 0xbf) skip = t & 0x1f;
    else if (i + 4 > b.length && t >= 0xc4) return false;
    else
      switch (t) {
        case 0xc4:
        case 0xd9:
          skip = 1 + b[i]!;
          break;
        case 0xc5:
        case 0xda:
          skip = 2 + view.getUint16(i);
          break;
        case 0xc6:
        case 0xdb:
          skip = 4 + view.getUint32(i);
          break;
        case 0xc7:
          skip = 2 + b[i]!;
          break;
        case 0xc8:
          skip = 3 + view.getUint16(i);
          break;
        case 0xc9:
          skip = 5 + view.getUint32(i);
          break;
        case 0xca:
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          skip = 8;
          break;
        case 0xcc:
        case 0xd0:
          skip = 1;
          break;
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xd4:
          skip = 2;
          break;
        case 0xd5:
          skip = 3;
          break;
        case 0xd6:
          skip = 5;
          break;
        case 0xd7:
          skip = 9;
          break;
        case 0xd8:
          skip = 17;
          break;
        case 0xdc:
          n = view.getUint16(i);
          skip = 2;
          break;
        case 0xdd:
          n = view.getUint32(i);
          skip = 4;
          break;
        case 0xde:
          n = view.getUint16(i) * 2;
          skip = 2;
          break;
        case 0xdf:
          n = view.getUint32(i) * 2;
          skip = 4;
          break;
        default:
          return false; // 0xc1 (never used): the decoder refuses it
      }
    i += skip;
    if (n >= 0 ? container(n) : item()) return true;
  }
  return false;
}

/** The JSON body parser: fastify's own (prototype poisoning refused), after the nesting check. */
export function registerJsonParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body as string;
    if (jsonNestsDeeper(text, MAX_NESTING))
      return done(
        new HttpError(ERRORS.REQUEST_INVALID, `body nests deeper than ${MAX_NESTING} levels`),
        undefined,
      );
    // fastify's parser answers through `done`; its declared type also allows a promise, which it never returns here.
    void parse(req, text, done);
  });
}
