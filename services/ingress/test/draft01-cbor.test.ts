import { describe, expect, it } from 'vitest';
import { decodeCbor, encodeCbor } from '@hookgate/ingress';

const hex = (h: string) => Buffer.from(h.replace(/\s+/g, ''), 'hex');

describe('draft-01 CBOR', () => {
  it('decodes maps to plain objects and byte strings to Buffers', () => {
    // {"stage": "data", "rawMessage": h'4869'}
    const v = decodeCbor(hex('a2 65 7374616765 64 64617461 6a 7261774d657373616765 42 4869')) as Record<
      string,
      unknown
    >;
    expect(v.stage).toBe('data');
    expect(Buffer.isBuffer(v.rawMessage)).toBe(true);
    expect(String(v.rawMessage)).toBe('Hi');
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
  });

  it('turns dates (tags 0 and 1) into RFC 3339 strings and undefined into null', () => {
    expect(decodeCbor(hex('c1 1a 514b67b0'))).toBe('2013-03-21T20:04:00.000Z');
    expect(decodeCbor(hex('c0 74 323031332d30332d32315432303a30343a30305a'))).toBe(
      '2013-03-21T20:04:00.000Z',
    );
    expect(decodeCbor(hex('81 f7'))).toEqual([null]);
  });

  it('refuses malformed input, trailing bytes, tagged types and prototype keys', () => {
    for (const bad of ['', 'a2', '01 02', 'd9 0102 81 01' /* tag 258: a Set */])
      expect(() => decodeCbor(hex(bad))).toThrow();
    // {"constructor": 1}
    expect(() => decodeCbor(hex('a1 6b 636f6e7374727563746f72 01'))).toThrow(/not allowed/);
  });

  it('encodes answers as plain CBOR: maps, text, and byte strings without tags', () => {
    const bytes = encodeCbor({ set: [{ path: '/rawMessage', value: Buffer.from('Hi') }], add: undefined });
    expect(decodeCbor(bytes)).toEqual({ set: [{ path: '/rawMessage', value: Buffer.from('Hi') }] });
    // The byte string is major type 2 (0x42 = 2 bytes), not tag 64 (0xd8 0x40).
    expect(bytes.includes(hex('42 4869'))).toBe(true);
    expect(bytes.includes(hex('d8 40'))).toBe(false);
    expect(bytes[0]! >> 5).toBe(5); // a map
  });
});
