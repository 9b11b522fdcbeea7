import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { encode, decode } from '@msgpack/msgpack';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '@hookgate/ingress';
import { clamavScanner } from '@hookgate/scanner-av';
import { startRedis, startClamd, type RedisDaemon, type ClamdDaemon } from '../../../test/support/daemons.js';
import { startStack, policy, type Stack } from '../../../test/support/stack.js';
import { stalwartRequest, transaction } from '../../../test/support/stalwart.js';
import { clean, eicarAttachment, eicarZip, eicarInline, type Sample } from '../../../test/support/samples.js';

let redis: RedisDaemon;
let clamd: ClamdDaemon;
let stack: Stack;
let app: FastifyInstance;
const logLines: string[] = [];

const TOKEN = 'tok-0123456789abcdef0123456789';
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
const AUTH = { authorization: `Bearer ${TOKEN}` };

beforeAll(async () => {
  [redis, clamd] = await Promise.all([startRedis(), startClamd()]);
  const scanner = clamavScanner({
    endpoint: clamd.tcp,
    stages: ['data'],
    maxStreamBytes: 1 << 24,
    chunkBytes: 65536,
    action: 'reject',
    reply: { code: 550, enhanced: '5.7.1', text: 'Virus found: {virus}' },
    header: { name: 'X-Virus-Scanned', value: 'hookgate (ClamAV)' },
  });
  stack = await startStack({
    redisUrl: redis.url,
    routes: [{ id: 'clamav', stages: ['data'], policy: policy('clamav', true) }],
    workers: [scanner],
  });
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(String(chunk));
      cb();
    },
  });
  app = buildApp({
    pipeline: stack.pipeline,
    auth: {
      tokens: [{ identity: 'mta-1', token: TOKEN }],
      basic: [{ username: 'stalwart', secret: 's3cret-pass' }],
    },
    stalwart: { quarantine: 'header', quarantineHeader: { name: 'X-Hookgate-Quarantine', value: 'yes' } },
    maxBodyBytes: 64 * 1024,
    logger: pino({ level: 'info' }, sink),
    isReady: () => true,
  });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await stack?.close();
  await Promise.all([redis?.stop(), clamd?.stop()]);
});

const post = (body: unknown, headers: Record<string, string> = AUTH) =>
  app.inject({
    method: 'POST',
    url: '/hooks/stalwart',
    headers: { 'content-type': 'application/json', ...headers },
    payload: JSON.stringify(body),
  });

describe('POST /hooks/stalwart', () => {
  it('answers every stage of a clean transaction with accept, and the header at data', async () => {
    const stages = transaction(
      { clientPort: 50001, rcpts: ['bob@example.net', 'carol@example.net'] },
      clean(),
    );
    const answers = [];
    for (const body of stages) {
      const res = await post(body);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      answers.push(res.json());
    }
    expect(answers.slice(0, -1)).toEqual(Array(stages.length - 1).fill({ action: 'accept' }));
    expect(answers.at(-1)).toEqual({
      action: 'accept',
      modifications: [{ type: 'addHeader', name: 'X-Virus-Scanned', value: 'hookgate (ClamAV)' }],
    });
  });

  for (const [name, sample] of [
    ['inline', eicarInline()],
    ['base64 attachment', eicarAttachment()],
    ['zip attachment', eicarZip()],
  ] as [string, Sample][]) {
    it(`rejects EICAR (${name}) at data with 550 5.7.1 naming the virus, under both enhanced-code keys`, async () => {
      const res = await post(stalwartRequest('data', { clientPort: 50002 }, sample));
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.action).toBe('reject');
      expect(body.response).toMatchObject({ status: 550, enhanced_status: '5.7.1', enhancedStatus: '5.7.1' });
      expect(body.response.message).toMatch(/^Virus found: Test\.EICAR/);
    });
  }

  it('speaks MessagePack both ways, and JSON when Accept asks for it', async () => {
    const payload = Buffer.from(encode(stalwartRequest('data', { clientPort: 50003 }, eicarInline())));
    for (const type of ['application/msgpack', 'application/x-msgpack']) {
      const res = await app.inject({
        method: 'POST',
        url: '/hooks/stalwart',
        headers: { ...AUTH, 'content-type': type },
        payload,
      });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(new RegExp(`^${type}`));
      expect((decode(res.rawPayload) as { action: string }).action).toBe('reject');
    }
    const asJson = await app.inject({
      method: 'POST',
      url: '/hooks/stalwart',
      headers: { ...AUTH, 'content-type': 'application/msgpack', accept: 'application/json' },
      payload,
    });
    expect(asJson.json().action).toBe('reject');
  });

  it('accepts the upper-case stages of Stalwart docs', async () => {
    const body = stalwartRequest('connect', { clientPort: 50004 }) as { context: { stage: string } };
    body.context.stage = 'CONNECT';
    expect((await post(body)).json()).toEqual({ action: 'accept' });
  });
});

describe('bad input', () => {
  it('400 names the field path and expected type', async () => {
    const body = stalwartRequest('connect') as { context: { client: { ip: unknown } } };
    body.context.client.ip = 42;
    const res = await post(body);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      error: {
        code: 'HOOKGATE_ERR_REQUEST_INVALID',
        message: expect.stringMatching(/body\/context\/client\/ip must be string/),
      },
    });
  });

  it('400 for a missing context, a non-object body and malformed JSON or MessagePack', async () => {
    expect((await post({ envelope: {} })).json().error.message).toMatch(
      /must have required property 'context'/,
    );
    expect((await post([1, 2])).statusCode).toBe(400);
    const bad = await app.inject({
      method: 'POST',
      url: '/hooks/stalwart',
      headers: { ...AUTH, 'content-type': 'application/json' },
      payload: '{"context": ',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('HOOKGATE_ERR_REQUEST_INVALID');
    const badPack = await app.inject({
      method: 'POST',
      url: '/hooks/stalwart',
      headers: { ...AUTH, 'content-type': 'application/msgpack' },
      payload: Buffer.from([0xc1]),
    });
    expect(badPack.statusCode).toBe(400);
    // Errors come in the request's encoding too.
    expect(decode(badPack.rawPayload)).toEqual({
      error: { code: 'HOOKGATE_ERR_REQUEST_INVALID', message: 'body is not valid MessagePack' },
    });
  });

  it('400 naming the field for request fields over their limits (issue 11: one request must not park megabytes in Redis)', async () => {
    const helo = stalwartRequest('ehlo') as { context: { client: { helo: string } } };
    helo.context.client.helo = 'h'.repeat(5000);
    const res = await post(helo);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toMatch(
      /body\/context\/client\/helo must NOT have more than 1024 characters/,
    );
    const params = stalwartRequest('mail') as { envelope: { from: { parameters: Record<string, string> } } };
    params.envelope.from.parameters = Object.fromEntries(
      Array.from({ length: 33 }, (_, i) => [`P${i}`, 'x']),
    );
    expect((await post(params)).json().error.message).toMatch(
      /body\/envelope\/from\/parameters must NOT have more than 32 properties/,
    );
  });

  it('400 for an unknown stage, naming it', async () => {
    const body = stalwartRequest('connect') as { context: { stage: string } };
    body.context.stage = 'helo';
    const res = await post(body);
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toEqual({
      code: 'HOOKGATE_ERR_STAGE_UNKNOWN',
      message: 'unknown stage "helo": expected one of connect, ehlo, auth, mail, rcpt, data',
    });
  });

  it('413 above the body limit, 415 for other media types', async () => {
    const big = stalwartRequest(
      'data',
      {},
      { headers: [['Subject', ' big\r\n']], body: 'x'.repeat(70 * 1024) },
    );
    const res = await post(big);
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('HOOKGATE_ERR_BODY_TOO_LARGE');
    const xml = await app.inject({
      method: 'POST',
      url: '/hooks/stalwart',
      headers: { ...AUTH, 'content-type': 'text/xml' },
      payload: '<x/>',
    });
    expect(xml.statusCode).toBe(415);
  });

  it('401 without or with wrong credentials; Basic and Bearer both work', async () => {
    const body = stalwartRequest('connect');
    expect((await post(body, {})).statusCode).toBe(401);
    expect((await post(body, { authorization: 'Bearer wrong-token-wrong-token' })).statusCode).toBe(401);
    expect((await post(body, { authorization: basic('stalwart', 'nope') })).statusCode).toBe(401);
    expect((await post(body, { authorization: 'Digest abc' })).statusCode).toBe(401);
    expect((await post(body, { authorization: basic('stalwart', 's3cret-pass') })).statusCode).toBe(200);
    expect((await post(body)).statusCode).toBe(200);
  });

  it('health endpoints need no credentials', async () => {
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/readyz' })).json()).toEqual({ status: 'ready' });
  });

  it('never logs message content or credentials', async () => {
    const marker = 'SECRET-BODY-MARKER-7f3a';
    await post(
      stalwartRequest('data', {}, { headers: [['Subject', ` ${marker}\r\n`]], body: `${marker}\r\n` }),
    );
    await post(stalwartRequest('connect'), { authorization: basic('stalwart', 'wrong-secret-xyz') });
    await post({ context: { stage: 'data', client: { ip: 1 } }, message: { contents: marker } });
    const all = logLines.join('');
    expect(all.length).toBeGreaterThan(0);
    expect(all).not.toContain(marker);
    expect(all).not.toContain('wrong-secret-xyz');
    expect(all).not.toContain(TOKEN);
  });
});
