import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Value } from '@sinclair/typebox/value';
import type { StageRequest } from '@hookgate/contracts';
import {
  engineReply,
  indexHeaders,
  mapRspamdResult,
  milterModifications,
  rspamdHeaders,
  rspamdScanner,
  RspamdConfigSchema,
  topSymbols,
  UNKNOWN_HEADERS,
  type RspamdConfig,
  type RspamdResult,
} from '@hookgate/scanner-spam';
import { clean, gtube, toEml } from '../../../test/support/samples.js';

/** Replies recorded from the test rspamd 3.4 (see test/fixtures/rspamd/README.md). */
const recorded = (name: string) =>
  JSON.parse(
    readFileSync(new URL(`../../../test/fixtures/rspamd/replies/${name}.json`, import.meta.url), 'utf8'),
  ) as RspamdResult;
const defaults = Value.Default(RspamdConfigSchema, {}) as RspamdConfig;
const config = (over: Partial<RspamdConfig> = {}) => ({ ...defaults, ...over });
const cleanBytes = Buffer.from(toEml(clean()));
const result = (over: Partial<RspamdResult>): RspamdResult => ({
  action: 'no action',
  score: 0,
  symbols: {},
  ...over,
});

describe('rspamd config', () => {
  it('defaults every key; no url means inactive', () => {
    expect(defaults).toEqual({
      stages: ['data'],
      timeoutMs: 10_000,
      maxMessageBytes: 10_485_760,
      action: 'reject',
      reply: { code: 550, enhanced: '5.7.1', text: 'Spam message rejected' },
      tempfailReply: { code: 451, enhanced: '4.7.1', text: 'Try again later' },
      greylist: 'tempfail',
      spamHeader: { name: 'X-Spam', value: 'Yes' },
      scoreHeader: null,
      milter: true,
      maxSymbols: 20,
    });
    expect(Value.Check(RspamdConfigSchema, defaults)).toBe(true);
  });

  it('makes a scanner from a URL alone, and refuses a bad config with every problem', () => {
    const s = rspamdScanner({ url: 'http://127.0.0.1:11333' });
    expect([s.id, s.kind, s.stages, s.describe?.()]).toEqual([
      'rspamd',
      'spam',
      ['data'],
      'rspamd at http://127.0.0.1:11333',
    ]);
    expect(() => rspamdScanner({ url: 'ftp://x', timeoutMs: 1 })).toThrow(
      expect.objectContaining({
        code: 'HOOKGATE_ERR_CONFIG_INVALID',
        message: expect.stringMatching(/url.*timeoutMs|timeoutMs.*url/s),
      }),
    );
  });
});

describe('rspamd request headers', () => {
  const request: StageRequest = {
    v: 1,
    protocol: 'draft01',
    stage: 'data',
    sessionId: 's',
    txnId: 's.1',
    reqId: 'r',
    client: { ip: '192.0.2.10', ptr: 'mail.example.org', helo: 'mail.example.org' },
    auth: { login: 'alice' },
    from: { address: 'alice@example.org' },
    to: [{ address: 'bob@example.net' }, { address: 'carol@example.net' }],
    queueId: 'Q123',
    tls: { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' },
    receivedAt: 0,
    deadlineAt: 0,
  };

  it('sends the envelope, one Rcpt per recipient, User and Queue-Id, and the password when set', () => {
    expect(rspamdHeaders(request, { password: 'secret' })).toEqual({
      IP: '192.0.2.10',
      Helo: 'mail.example.org',
      Hostname: 'mail.example.org',
      From: 'alice@example.org',
      Rcpt: ['bob@example.net', 'carol@example.net'],
      User: 'alice',
      'Queue-Id': 'Q123',
      'TLS-Version': 'TLSv1.3',
      'TLS-Cipher': 'TLS_AES_256_GCM_SHA384',
      Password: 'secret',
    });
  });

  it('leaves out what is unknown: no PTR means no Hostname (rspamd then scores RDNS_NONE)', () => {
    const bare = {
      ...request,
      client: { ip: '192.0.2.10' },
      auth: undefined,
      tls: undefined,
      queueId: undefined,
      to: undefined,
      rcpt: 'x@example.net',
    };
    expect(rspamdHeaders(bare)).toEqual({
      IP: '192.0.2.10',
      From: 'alice@example.org',
      Rcpt: ['x@example.net'],
    });
  });

  it('sends the null sender as <>, strips CR/LF and sends UTF-8 as raw bytes', () => {
    const h = rspamdHeaders({
      ...request,
      from: { address: '' },
      client: { ip: '192.0.2.10', helo: 'evil\r\nX-Injected: 1' },
      to: [{ address: 'jörg@exämple.de' }],
    });
    expect(h.From).toBe('<>');
    expect(h.Helo).toBe('evilX-Injected: 1');
    expect(Buffer.from(h.Rcpt![0]!, 'latin1').toString('utf8')).toBe('jörg@exämple.de');
  });
});

describe('rspamd result mapping (recorded replies)', () => {
  it('GTUBE → reject with the symbol, score and rspamd smtp_message', () => {
    const outcome = mapRspamdResult(
      recorded('stock-gtube-reject'),
      config({ spamHeader: null }),
      indexHeaders(Buffer.from(toEml(gtube()))),
    );
    expect(outcome).toEqual({
      status: 'fail',
      category: 'spam',
      action: 'reject',
      names: ['GTUBE'],
      score: 15,
      reply: { code: 550, enhanced: '5.7.1', text: 'Gtube pattern' },
    });
  });

  it('clean → pass with score and the scoring symbols; rspamd removing absent X-Spam headers changes nothing', () => {
    const outcome = mapRspamdResult(recorded('stock-clean-no-action'), config(), indexHeaders(cleanBytes));
    expect(outcome).toEqual({
      status: 'pass',
      score: 3.7,
      symbols: [
        'HFILTER_FROMHOST_NORES_A_OR_MX',
        'AUTH_NA',
        'HFILTER_HELO_IP_A',
        'HFILTER_HELO_NORES_A_OR_MX',
      ],
    });
  });

  it('adds the score header when configured', () => {
    const outcome = mapRspamdResult(
      recorded('stock-clean-no-action'),
      config({ scoreHeader: 'X-Spam-Score' }),
      indexHeaders(cleanBytes),
    );
    expect(outcome).toMatchObject({
      status: 'pass',
      modifications: [{ type: 'addHeader', name: 'X-Spam-Score', value: '3.70' }],
    });
  });

  it('add header (no PTR sent) → pass with X-Spam: Yes and the hostname symbols first', () => {
    const outcome = mapRspamdResult(
      recorded('stock-clean-no-hostname-add-header'),
      config(),
      indexHeaders(cleanBytes),
    );
    expect(outcome).toMatchObject({
      status: 'pass',
      score: 7.3,
      modifications: [{ type: 'addHeader', name: 'X-Spam', value: 'Yes' }],
    });
    expect(outcome.status === 'pass' && outcome.symbols?.slice(0, 2)).toEqual([
      'HFILTER_HOSTNAME_UNKNOWN',
      'HFILTER_FROMHOST_NORES_A_OR_MX',
    ]);
  });

  it('rewrite subject + milter_headers → Subject changed, headers inserted/appended by order, values unfolded', () => {
    const outcome = mapRspamdResult(
      recorded('milter-headers-rewrite-subject'),
      config(),
      indexHeaders(cleanBytes),
    );
    expect(outcome.status).toBe('pass');
    if (outcome.status !== 'pass') return;
    const mods = outcome.modifications ?? [];
    expect(mods).toContainEqual({
      type: 'changeHeader',
      index: 1,
      name: 'Subject',
      value: '***SPAM*** Quarterly meeting notes',
    });
    // order 1 → inserted at position 1; order -1 → after the last header, i.e. appended.
    expect(mods).toContainEqual({
      type: 'insertHeader',
      index: 1,
      name: 'Authentication-Results',
      value: expect.stringMatching(/^vm;\tdkim=none;\t.*spf=none \(vm: domain of alice@example.org/),
    });
    expect(mods).toContainEqual({ type: 'addHeader', name: 'X-Rspamd-Server', value: 'scanner.test' });
    expect(mods).toContainEqual({ type: 'addHeader', name: 'X-Rspamd-Queue-Id', value: 'ABC123' });
    expect(mods).toContainEqual({ type: 'addHeader', name: 'X-Spamd-Bar', value: '+++' });
    expect(mods.find((m) => m.type === 'addHeader' && m.name === 'X-Spamd-Result')).toMatchObject({
      value: expect.stringMatching(/^default: False \[3\.70 \/ 15\.00\];\tHFILTER/),
    });
    for (const m of mods) if ('value' in m) expect(m.value).not.toMatch(/[\r\n]/);
    // The clean message has none of the headers rspamd asks to remove.
    expect(mods.filter((m) => m.type === 'deleteHeader')).toEqual([]);
  });

  it('forged upstream X-Spam headers: every occurrence deleted (last first), then one X-Spam: Yes', () => {
    const forged = Buffer.from(
      toEml(
        clean({
          extra: [
            ['X-Spam', ' No\r\n'],
            ['x-spam', ' no\r\n'],
          ],
        }),
      ),
    );
    const outcome = mapRspamdResult(
      recorded('milter-headers-forged-x-spam-add-header'),
      config(),
      indexHeaders(forged),
    );
    expect(outcome.status).toBe('pass');
    if (outcome.status !== 'pass') return;
    const spam = outcome.modifications?.filter((m) => 'name' in m && m.name === 'X-Spam');
    expect(spam).toEqual([
      { type: 'deleteHeader', index: 2, name: 'X-Spam' },
      { type: 'deleteHeader', index: 1, name: 'X-Spam' },
      { type: 'addHeader', name: 'X-Spam', value: 'Yes' },
    ]);
  });

  it('milter mapping can be switched off', () => {
    const outcome = mapRspamdResult(
      recorded('milter-headers-rewrite-subject'),
      config({ milter: false }),
      indexHeaders(cleanBytes),
    );
    expect(outcome).toMatchObject({
      status: 'pass',
      modifications: [{ type: 'changeHeader', name: 'Subject' }],
    });
    expect(outcome.status === 'pass' && outcome.modifications).toHaveLength(1);
  });
});

describe('rspamd milter block', () => {
  const headers = indexHeaders(
    Buffer.from('Received: a\r\nReceived: b\r\nX-Spam: 1\r\nSubject: s\r\n\r\nbody'),
  );

  it('maps add_headers forms: string, {value, order}, arrays; 0/absent appends, N inserts at N, -N counts from the end', () => {
    const mods = milterModifications(
      {
        add_headers: {
          'X-A': 'plain',
          'X-B': { value: 'zero', order: 0 },
          'X-C': { value: 'three', order: 3 },
          'X-D': [{ value: 'd1' }, 'd2', { value: 'd3', order: -2 }],
          'X-E': { value: 'top', order: -10 },
          'Bad Name': 'skipped',
          'X-F': { value: 7 } as never,
        },
      },
      undefined,
      headers,
    );
    expect(mods).toEqual([
      { type: 'addHeader', name: 'X-A', value: 'plain' },
      { type: 'addHeader', name: 'X-B', value: 'zero' },
      { type: 'insertHeader', index: 3, name: 'X-C', value: 'three' },
      { type: 'addHeader', name: 'X-D', value: 'd1' },
      { type: 'addHeader', name: 'X-D', value: 'd2' },
      { type: 'insertHeader', index: 3, name: 'X-D', value: 'd3' },
      { type: 'insertHeader', index: 0, name: 'X-E', value: 'top' },
    ]);
  });

  it('maps remove_headers: N the N-th, 0 all (last first), negative from the end, absent ones ignored', () => {
    expect(
      milterModifications(
        { remove_headers: { Received: 0, 'X-Spam': -1, Subject: 2, 'X-None': 0 } },
        undefined,
        headers,
      ),
    ).toEqual([
      { type: 'deleteHeader', index: 2, name: 'Received' },
      { type: 'deleteHeader', index: 1, name: 'Received' },
      { type: 'deleteHeader', index: 1, name: 'X-Spam' },
    ]);
  });

  it('without the message: 0 deletes index 1, N deletes N, negative cannot be placed', () => {
    expect(
      milterModifications(
        { remove_headers: { 'X-Spam': 0, 'X-Other': 2, 'X-Last': -1 } },
        undefined,
        UNKNOWN_HEADERS,
      ),
    ).toEqual([
      { type: 'deleteHeader', index: 1, name: 'X-Spam' },
      { type: 'deleteHeader', index: 2, name: 'X-Other' },
    ]);
  });

  it('maps change_from (with ESMTP parameters), add_rcpt, del_rcpt and DKIM signatures', () => {
    const mods = milterModifications(
      {
        change_from: '<bounce@example.org> SIZE=100 smtputf8',
        add_rcpt: ['<archive@example.org>', 'copy@example.org', 5 as never],
        del_rcpt: ['<bob@example.net>'],
      },
      ['v=1; a=rsa-sha256; d=example.org;\r\n\tb=abc', 'v=1; d=second'],
      headers,
    );
    expect(mods).toEqual([
      { type: 'changeFrom', address: 'bounce@example.org', parameters: { SIZE: '100', SMTPUTF8: '' } },
      { type: 'addRecipient', address: 'archive@example.org' },
      { type: 'addRecipient', address: 'copy@example.org' },
      { type: 'deleteRecipient', address: 'bob@example.net' },
      {
        type: 'insertHeader',
        index: 1,
        name: 'DKIM-Signature',
        value: 'v=1; a=rsa-sha256; d=example.org;\tb=abc',
      },
      { type: 'insertHeader', index: 2, name: 'DKIM-Signature', value: 'v=1; d=second' },
    ]);
  });
});

describe('rspamd actions', () => {
  const spammy = {
    symbols: {
      BAD: { name: 'BAD', score: 4 },
      WORSE: { name: 'WORSE', score: 6 },
      GOOD: { name: 'GOOD', score: -1 },
    },
  };

  it('soft reject → tempfail 451 4.7.1 with rspamd text', () => {
    const o = mapRspamdResult(
      result({
        action: 'soft reject',
        score: 5,
        ...spammy,
        messages: { smtp_message: 'Try again later (ratelimit)' },
      }),
      config(),
    );
    expect(o).toEqual({
      status: 'fail',
      category: 'spam',
      action: 'tempfail',
      names: ['WORSE', 'BAD'],
      score: 5,
      reply: { code: 451, enhanced: '4.7.1', text: 'Try again later (ratelimit)' },
    });
  });

  it('greylist → tempfail by default, accept when configured', () => {
    expect(mapRspamdResult(result({ action: 'greylist', score: 4.5 }), config())).toMatchObject({
      status: 'fail',
      action: 'tempfail',
      reply: { code: 451 },
    });
    expect(
      mapRspamdResult(result({ action: 'greylist', score: 4.5 }), config({ greylist: 'accept' })),
    ).toMatchObject({ status: 'pass', score: 4.5 });
  });

  it('reject honours the configured action, milter reject=quarantine|discard, and a code in smtp_message', () => {
    expect(
      mapRspamdResult(result({ action: 'reject', score: 20 }), config({ action: 'quarantine' })),
    ).toMatchObject({
      status: 'fail',
      action: 'quarantine',
      modifications: [{ type: 'addHeader', name: 'X-Spam', value: 'Yes' }],
    });
    expect(
      mapRspamdResult(result({ action: 'reject', score: 20, milter: { reject: 'discard' } }), config()),
    ).toMatchObject({ status: 'fail', action: 'discard' });
    expect(
      mapRspamdResult(
        result({ action: 'reject', score: 20, messages: { smtp_message: '554 5.7.0 Go away' } }),
        config(),
      ),
    ).toMatchObject({ reply: { code: 554, enhanced: '5.7.0', text: 'Go away' } });
  });

  it('no_action in the milter block only labels the message', () => {
    expect(
      mapRspamdResult(result({ action: 'reject', score: 20, milter: { no_action: true } }), config()),
    ).toEqual({
      status: 'pass',
      score: 20,
      symbols: [],
      modifications: [{ type: 'addHeader', name: 'X-Rspamd-Action', value: 'reject' }],
    });
  });

  it('spam_header from rspamd replaces the configured value, or names the headers to set', () => {
    expect(
      mapRspamdResult(result({ action: 'add header', milter: { spam_header: 'Probably' } }), config()),
    ).toMatchObject({ modifications: [{ name: 'X-Spam', value: 'Probably' }] });
    expect(
      mapRspamdResult(
        result({ action: 'add header', milter: { spam_header: { 'X-Junk': 'yes' } } }),
        config(),
      ),
    ).toMatchObject({ modifications: [{ name: 'X-Junk', value: 'yes' }] });
  });

  it('rewrite subject adds a Subject when the message has none', () => {
    const noSubject = indexHeaders(Buffer.from('From: a@b\r\n\r\nx'));
    expect(
      mapRspamdResult(result({ action: 'rewrite subject', subject: '[SPAM] ' }), config(), noSubject),
    ).toMatchObject({ modifications: [{ type: 'addHeader', name: 'Subject', value: '[SPAM] ' }] });
  });

  it('an unknown action is a protocol error, never a pass', () => {
    expect(() => mapRspamdResult(result({ action: 'launch missiles' }), config())).toThrow(
      expect.objectContaining({ code: 'HOOKGATE_ERR_SCAN_PROTOCOL' }),
    );
  });

  it('top symbols: positive scores first, zero-score ones only when nothing scored, safe names, limited', () => {
    expect(
      topSymbols(
        result({
          symbols: { A: { name: 'A', score: 1 }, B: { name: 'B', score: 2 }, Z: { name: 'Z', score: 0 } },
        }),
        10,
      ),
    ).toEqual(['B', 'A']);
    expect(
      topSymbols(
        result({ symbols: { GTUBE: { name: 'GTUBE', score: 0 }, N: { name: 'N', score: -1 } } }),
        10,
      ),
    ).toEqual(['GTUBE']);
    expect(
      topSymbols(
        result({ symbols: { x: { name: 'BAD NAME<>', score: 1 }, y: { name: 'Y', score: 0.5 } } }),
        1,
      ),
    ).toEqual(['BAD_NAME__']);
  });

  it('engine reply: wrong-class codes are not taken, text is one printable line', () => {
    const base = { code: 451, enhanced: '4.7.1', text: 'later' };
    expect(engineReply(base, '550 5.7.1 no', 4)).toEqual({
      code: 451,
      enhanced: '4.7.1',
      text: '550 5.7.1 no',
    });
    expect(engineReply(base, 'line1\r\nline2 \u00e9', 4)).toEqual({ ...base, text: 'line1 line2 ?' });
    expect(engineReply(base, undefined, 4)).toBe(base);
  });
});
