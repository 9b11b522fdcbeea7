/**
 * Findings of the fuzz harness, each replayed as a plain test named after it (docs/testing.md lists them). They
 * run against the same in-process app as the fuzz targets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE, Harness, TOKEN } from './http-targets.js';
import { stalwartRequest } from '../support/stalwart.js';
import { clean } from '../support/samples.js';

const h = new Harness();
beforeAll(() => h.start());
afterAll(() => h.app.close());

const accept = {
  v: 1 as const,
  action: 'accept' as const,
  modifications: [],
  reasons: [],
  decidedBy: [],
  partial: false,
};

describe('fuzz-draft01-long-id: a path id of 101 to 16,384 characters', () => {
  // find-my-way's default maxParamLength (100) answered 414 FST_ERR_MAX_PARAM_LENGTH with a body echoing the path,
  // for ids draft-01 allows (up to 255 characters).
  for (const n of [101, 255, 4_000]) {
    it(`${n} characters: status and deregistration answer 404 REGISTRATION_NOT_FOUND in the draft's body`, async () => {
      h.reset(accept);
      const id = 'r'.repeat(n);
      for (const [method, url] of [
        ['GET', `${BASE}/registrations/${id}/status`],
        ['GET', `${BASE}/registrations/${id}`],
        ['DELETE', `${BASE}/registrations/${id}`],
      ] as const) {
        const res = await h.app.inject({ method, url, headers: { authorization: `Bearer ${TOKEN}` } });
        expect(res.statusCode).toBe(404);
        expect(res.json()).toEqual({
          error: { code: 'REGISTRATION_NOT_FOUND', message: expect.stringMatching(/^unknown registration/) },
        });
        expect(res.body.length).toBeLessThan(400);
      }
    });
  }

  it('a hook call to such an id answers 404 REGISTRATION_NOT_FOUND, not 414', async () => {
    h.reset(accept);
    const id = 'r'.repeat(200);
    const res = await h.app.inject({
      method: 'POST',
      url: `${BASE}/hooks/${id}`,
      headers: {
        authorization: `Bearer ${TOKEN}`,
        'content-type': 'application/json',
        'x-mta-hooks-request-id': 'req-1',
        'x-mta-hooks-registration': id,
      },
      payload: JSON.stringify({ stage: 'connect' }),
    });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('REGISTRATION_NOT_FOUND');
  });
});

describe('fuzz-stalwart-unsafe-size: message.size past 2^53 - 1', () => {
  // 9007199254740993 parsed to 9007199254740992 and reached the pipeline as the message size.
  for (const size of ['9007199254740993', '1e300']) {
    it(`${size} is a 400 naming the field, and nothing is scanned`, async () => {
      h.reset(accept);
      const body = stalwartRequest('data', {}, clean());
      const json = JSON.stringify(body).replace(/"size":\d+/, `"size":${size}`);
      const res = await h.app.inject({
        method: 'POST',
        url: '/hooks/stalwart',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        payload: json,
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.message).toMatch(/message\/size must be <= 9007199254740991/);
      expect(h.calls).toEqual([]);
    });
  }
});

describe('fuzz-deep-nesting: bodies nested 100,000 levels deep', () => {
  // JSON.parse and the MessagePack decoder spent time and memory linear in the depth before any check: 10 MB of
  // JSON nesting held the event loop 6.7 s and 274 MiB of heap. Refused before decoding now.
  const json = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
  const pack = Buffer.alloc(100_001, 0x91).fill(0xc0, 100_000);
  const auth = { authorization: `Bearer ${TOKEN}` };

  it('legacy route, JSON and MessagePack: 400 REQUEST_INVALID naming the limit', async () => {
    h.reset(accept);
    for (const [type, payload] of [
      ['application/json', json],
      ['application/msgpack', pack],
    ] as const) {
      const res = await h.app.inject({
        method: 'POST',
        url: '/hooks/stalwart',
        headers: { ...auth, 'content-type': type, accept: 'application/json' },
        payload,
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({
        error: { code: 'HOOKGATE_ERR_REQUEST_INVALID', message: 'body nests deeper than 64 levels' },
      });
    }
  });

  it('draft-01 hook and registration: 400 INVALID_REQUEST in the draft body', async () => {
    h.reset(accept);
    const hook = await h.app.inject({
      method: 'POST',
      url: `${BASE}/hooks/reg-active`,
      headers: {
        ...auth,
        'content-type': 'application/json',
        'x-mta-hooks-request-id': 'deep-1',
        'x-mta-hooks-registration': 'reg-active',
      },
      payload: `{"stage":"connect","x":${json}}`,
    });
    expect(hook.statusCode).toBe(400);
    expect(hook.json()).toEqual({
      error: { code: 'INVALID_REQUEST', message: 'body nests deeper than 64 levels' },
    });
    const reg = await h.app.inject({
      method: 'POST',
      url: `${BASE}/registrations`,
      headers: { ...auth, 'content-type': 'application/json' },
      payload: json,
    });
    expect(reg.statusCode).toBe(400);
    expect(h.calls).toEqual([]);
  });

  it('ordinary nesting still parses, prototype keys are still refused', async () => {
    h.reset(accept);
    const ok = await h.app.inject({
      method: 'POST',
      url: '/hooks/stalwart',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: JSON.stringify({ ...stalwartRequest('connect'), extra: [[[[{ a: [1] }]]]] }),
    });
    expect(ok.statusCode).toBe(200);
    const proto = await h.app.inject({
      method: 'POST',
      url: '/hooks/stalwart',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: '{"__proto__":{"polluted":1},"context":{}}',
    });
    expect(proto.statusCode).toBe(400);
  });
});
