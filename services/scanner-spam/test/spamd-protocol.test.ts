import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:net';
import { Value } from '@sinclair/typebox/value';
import type { StageRequest } from '@hookgate/contracts';
import {
  mapSpamdResult,
  parseReport,
  parseSpamdReply,
  parseSpamHeader,
  parseSymbols,
  spamdCheck,
  spamdRequest,
  spamdScanner,
  SpamdConfigSchema,
  type SpamdConfig,
} from '@hookgate/scanner-spam';
import { stageRequest, scanContext } from '../../../test/support/scan-inputs.js';

/** Replies recorded from spamd 4.0.1 (REPORT's content preview, which quotes the message, left out). */
const SYMBOLS_SPAM =
  'SPAMD/1.1 0 EX_OK\r\nContent-length: 27\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nGTUBE,NO_RECEIVED,NO_RELAYS';
const SYMBOLS_CLEAN =
  'SPAMD/1.1 0 EX_OK\r\nContent-length: 21\r\nSpam: False ; -0.0 / 5.0\r\n\r\nNO_RECEIVED,NO_RELAYS';
const CHECK_SPAM = 'SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n';
const BAD_HEADER = 'SPAMD/1.0 76 Bad header line: FOO SPAMC/1.5\r\n';
const REPORT_BODY = [
  'Spam detection software, running on the system "vm",',
  'has identified this incoming email as possible spam.',
  '',
  'Content analysis details:   (1000.0 points, 5.0 required)',
  '',
  ' pts rule name              description',
  '---- ---------------------- --------------------------------------------------',
  '-0.0 NO_RECEIVED            Informational: message has no Received headers',
  '-0.0 NO_RELAYS              Informational: message was not relayed via SMTP',
  '1000 GTUBE                  BODY: Generic Test for Unsolicited Bulk Email',
  ' 2.5 SOME_RULE              BODY: something',
  '                            continued description',
  '',
].join('\n');

const defaults = Value.Default(SpamdConfigSchema, {}) as SpamdConfig;

describe('spamd protocol', () => {
  it('builds SPAMC/1.5 requests with Content-length and an optional User', () => {
    expect(spamdRequest('SYMBOLS', Buffer.from('hello'), 'bob').toString()).toBe(
      'SYMBOLS SPAMC/1.5\r\nContent-length: 5\r\nUser: bob\r\n\r\nhello',
    );
    expect(spamdRequest('PING', undefined).toString()).toBe('PING SPAMC/1.5\r\n\r\n');
  });

  it('parses SPAMD/1.1 replies to SPAMC/1.5, with and without a body', () => {
    expect(parseSpamdReply(Buffer.from(SYMBOLS_SPAM))).toEqual({
      version: '1.1',
      code: 0,
      status: 'EX_OK',
      headers: { 'content-length': '27', spam: 'True ; 1000.0 / 5.0' },
      body: 'GTUBE,NO_RECEIVED,NO_RELAYS',
    });
    expect(parseSpamdReply(Buffer.from(CHECK_SPAM))).toMatchObject({ code: 0, body: '' });
    expect(parseSpamdReply(Buffer.from(BAD_HEADER))).toMatchObject({
      version: '1.0',
      code: 76,
      status: 'Bad header line: FOO SPAMC/1.5',
    });
  });

  it('refuses what is not spamd, and truncated bodies', () => {
    expect(() => parseSpamdReply(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'))).toThrow(/unexpected spamd reply/);
    expect(() =>
      parseSpamdReply(Buffer.from('SPAMD/1.1 0 EX_OK\r\nContent-length: 99\r\n\r\nGTUBE')),
    ).toThrow(/truncated/);
  });

  it.each([
    ['True ; 1000.0 / 5.0', { isSpam: true, score: 1000, threshold: 5 }],
    ['False ; -1.0 / 5.0', { isSpam: false, score: -1, threshold: 5 }],
    ['Yes ; 7 / 5', { isSpam: true, score: 7, threshold: 5 }],
  ])('Spam: %s', (value, expected) => {
    expect(parseSpamHeader(value)).toEqual(expected);
  });

  it('refuses a malformed Spam header', () => {
    expect(() => parseSpamHeader('Maybe')).toThrow(
      expect.objectContaining({ code: 'HOOKGATE_ERR_SCAN_PROTOCOL' }),
    );
  });

  it('parses SYMBOLS and the REPORT table (by score)', () => {
    expect(parseSymbols('GTUBE,NO_RECEIVED,NO_RELAYS\r\n')).toEqual(['GTUBE', 'NO_RECEIVED', 'NO_RELAYS']);
    expect(parseSymbols('')).toEqual([]);
    expect(parseReport(REPORT_BODY)).toEqual([
      { name: 'GTUBE', score: 1000 },
      { name: 'SOME_RULE', score: 2.5 },
      { name: 'NO_RECEIVED', score: -0 },
      { name: 'NO_RELAYS', score: -0 },
    ]);
  });
});

describe('spamd mapping', () => {
  const spam = {
    isSpam: true,
    score: 1000,
    threshold: 5,
    rules: [{ name: 'GTUBE' }, { name: 'NO_RECEIVED' }],
  };
  const ham = { isSpam: false, score: -1, threshold: 5, rules: [{ name: 'ALL_TRUSTED' }] };

  it('defaults every key; no endpoint means inactive', () => {
    expect(defaults).toEqual({
      stages: ['data'],
      command: 'SYMBOLS',
      timeoutMs: 15_000,
      maxMessageBytes: 512_000,
      action: 'reject',
      reply: { code: 550, enhanced: '5.7.1', text: 'Message identified as spam' },
      spamHeader: { name: 'X-Spam-Flag', value: 'YES' },
      statusHeader: 'X-Spam-Status',
      scoreHeader: null,
      maxSymbols: 50,
    });
    const s = spamdScanner({ endpoint: '127.0.0.1:783' });
    expect([s.id, s.kind, s.stages, s.describe?.()]).toEqual([
      'spamd',
      'spam',
      ['data'],
      'spamd at tcp://127.0.0.1:783',
    ]);
    // Content-only verdicts: cacheable per User.
    expect(s.cacheKey?.({ request: {} as StageRequest })).toBe('');
    expect(
      spamdScanner({ endpoint: '127.0.0.1:783', user: 'bob' }).cacheKey?.({ request: {} as StageRequest }),
    ).toBe('bob');
    expect(() => spamdScanner({ endpoint: 'nonsense' })).toThrow(
      expect.objectContaining({ code: 'HOOKGATE_ERR_CONFIG_INVALID' }),
    );
    expect(() => spamdScanner({ endpoint: '/run/spamd.sock', user: 'a\r\nb' })).toThrow(
      expect.objectContaining({ code: 'HOOKGATE_ERR_CONFIG_INVALID' }),
    );
  });

  it('spam → fail with the configured action, reply, rule names and SpamAssassin-style headers', () => {
    expect(mapSpamdResult(spam, defaults)).toEqual({
      status: 'fail',
      category: 'spam',
      action: 'reject',
      names: ['GTUBE', 'NO_RECEIVED'],
      score: 1000,
      reply: { code: 550, enhanced: '5.7.1', text: 'Message identified as spam' },
      modifications: [
        { type: 'addHeader', name: 'X-Spam-Flag', value: 'YES' },
        {
          type: 'addHeader',
          name: 'X-Spam-Status',
          value: 'Yes, score=1000.0 required=5.0 tests=GTUBE,NO_RECEIVED',
        },
      ],
    });
    expect(mapSpamdResult(spam, { ...defaults, action: 'quarantine' })).not.toHaveProperty('reply');
  });

  it('ham → pass with X-Spam-Status (existing ones replaced), optional score header, or nothing', () => {
    const message = Buffer.from('X-Spam-Status: Yes, forged\r\nSubject: x\r\n\r\nbody');
    expect(mapSpamdResult(ham, { ...defaults, scoreHeader: 'X-Spam-Score' }, message)).toEqual({
      status: 'pass',
      score: -1,
      symbols: ['ALL_TRUSTED'],
      modifications: [
        { type: 'deleteHeader', index: 1, name: 'X-Spam-Status' },
        { type: 'addHeader', name: 'X-Spam-Status', value: 'No, score=-1.0 required=5.0 tests=ALL_TRUSTED' },
        { type: 'addHeader', name: 'X-Spam-Score', value: '-1.0' },
      ],
    });
    expect(mapSpamdResult(ham, { ...defaults, statusHeader: null })).toEqual({
      status: 'pass',
      score: -1,
      symbols: ['ALL_TRUSTED'],
    });
  });
});

describe('spamd client against a fake spamd', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  /** A one-shot spamd that reads the request and answers `reply` (then closes, as spamd does). */
  async function fake(reply: string): Promise<{ endpoint: string; requests: Buffer[] }> {
    const requests: Buffer[] = [];
    server = createServer((s) => {
      const chunks: Buffer[] = [];
      s.on('data', (b: Buffer) => chunks.push(b));
      s.on('end', () => {
        requests.push(Buffer.concat(chunks));
        s.end(reply);
      });
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    return { endpoint: `tcp://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, requests };
  }
  const request = stageRequest();
  const ctx = scanContext(10_000, new AbortController().signal);

  it('sends the message and reads the verdict', async () => {
    const f = await fake(SYMBOLS_CLEAN);
    expect(await spamdCheck(f.endpoint, Buffer.from('Subject: hi\r\n\r\nbody'), { user: 'bob' })).toEqual({
      isSpam: false,
      score: -0,
      threshold: 5,
      rules: [{ name: 'NO_RECEIVED' }, { name: 'NO_RELAYS' }],
    });
    expect(f.requests[0]!.toString()).toBe(
      'SYMBOLS SPAMC/1.5\r\nContent-length: 19\r\nUser: bob\r\n\r\nSubject: hi\r\n\r\nbody',
    );
  });

  it('a non-zero EX_ code is an explicit engine error result, retryable for EX_TEMPFAIL', async () => {
    const f = await fake('SPAMD/1.0 75 EX_TEMPFAIL\r\n\r\n');
    expect(
      await spamdScanner({ endpoint: f.endpoint }).scan({ request, message: Buffer.from('x') }, ctx),
    ).toEqual({
      status: 'error',
      code: 'HOOKGATE_ERR_SCAN_ENGINE_ERROR',
      message: 'spamd answered 75 EX_TEMPFAIL',
      retryable: true,
    });
  });

  it('a reply without a Spam header, or garbage, is a protocol error', async () => {
    const f = await fake('SPAMD/1.1 0 EX_OK\r\n\r\n');
    await expect(spamdCheck(f.endpoint, Buffer.from('x'))).rejects.toMatchObject({
      code: 'HOOKGATE_ERR_SCAN_PROTOCOL',
    });
  });

  it('a connection closed without a reply is an unavailable engine', async () => {
    const f = await fake('');
    await expect(spamdCheck(f.endpoint, Buffer.from('x'))).rejects.toMatchObject({
      code: 'HOOKGATE_ERR_SCAN_ENGINE_UNAVAILABLE',
    });
  });
});
