import { describe, expect, it } from 'vitest';
import { encode } from '@msgpack/msgpack';
import { jsonNestsDeeper, msgpackNestsDeeper } from '@hookgate/ingress';

const nested = (n: number): unknown => (n === 0 ? null : [nested(n - 1)]);

describe('jsonNestsDeeper', () => {
  it('counts arrays and objects, not brackets inside strings or after escaped quotes', () => {
    expect(jsonNestsDeeper('[[[1]]]', 3)).toBe(false);
    expect(jsonNestsDeeper('[[[[1]]]]', 3)).toBe(true);
    expect(jsonNestsDeeper('{"a":{"b":[{}]}}', 4)).toBe(false);
    expect(jsonNestsDeeper('{"a":{"b":[{}]}}', 3)).toBe(true);
    expect(jsonNestsDeeper('{"a":"[[[[[[","b":"\\"[[[[[["}', 1)).toBe(false);
    expect(jsonNestsDeeper('["\\\\",[[]]]', 2)).toBe(true);
  });

  it('siblings do not add up', () => {
    expect(jsonNestsDeeper(`[${Array(1000).fill('[[]]').join(',')}]`, 3)).toBe(false);
  });
});

describe('msgpackNestsDeeper', () => {
  it('agrees with the structure the encoder wrote', () => {
    for (const depth of [1, 2, 5, 64, 65]) {
      const bytes = encode(nested(depth));
      expect(msgpackNestsDeeper(bytes, 64)).toBe(depth > 64);
    }
    expect(msgpackNestsDeeper(encode({ a: { b: [1, 2, { c: 'x' }] }, d: [[]] }), 4)).toBe(false);
    expect(msgpackNestsDeeper(encode({ a: { b: [1, 2, { c: 'x' }] } }), 3)).toBe(true);
  });

  it('skips payloads: bytes of strings, binaries and numbers are not containers', () => {
    const body = encode({
      s: '\x91'.repeat(200),
      b: new Uint8Array(300).fill(0x91),
      n: [0xdc, 2 ** 40, -1.5],
    });
    expect(msgpackNestsDeeper(body, 2)).toBe(false);
  });

  it('a truncated body stops the walk (the decoder refuses it)', () => {
    expect(msgpackNestsDeeper(Uint8Array.from([0xdc, 0xff]), 64)).toBe(false);
    expect(msgpackNestsDeeper(new Uint8Array(100_000).fill(0x91), 64)).toBe(true);
  });
});
