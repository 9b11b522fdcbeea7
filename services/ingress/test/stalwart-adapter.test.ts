import { describe, expect, it } from 'vitest';
import type { StalwartRequest, Verdict } from '@hookgate/contracts';
import {
  fromStalwart,
  toStalwart,
  reconstructMessage,
  stalwartSessionId,
  responseEncoding,
  type StalwartSettings,
} from '@hookgate/ingress';
import { stalwartRequest } from '../../../test/support/stalwart.js';
import { clean, toEml } from '../../../test/support/samples.js';
import { verdict } from '../../../test/support/verdicts.js';

const settings: StalwartSettings = {
  quarantine: 'header',
  quarantineHeader: { name: 'X-Hookgate-Quarantine', value: 'yes' },
};

describe('Stalwart request → StageRequest', () => {
  it('rebuilds the exact message bytes from raw header values and the body', () => {
    const sample = clean();
    const body = stalwartRequest('data', {}, sample) as StalwartRequest;
    expect(reconstructMessage(body.message!).toString()).toBe(toEml(sample));
    const { incoming, message } = fromStalwart(body);
    expect(message!.toString()).toBe(toEml(sample));
    expect(incoming.message).toEqual({
      size: message!.length,
      storedBytes: message!.length,
      lossy: false,
      subject: 'Quarterly meeting notes',
    });
    expect(incoming.queueId).toBe('1b2f9c04d7e3a001');
  });

  it('adds CRLF after header values that lack it and flags a reconstruction that lost bytes', () => {
    const body = {
      context: { stage: 'data', client: { ip: '192.0.2.1' } },
      message: { headers: [['Subject', ' x']], contents: 'caf\uFFFD\r\n', size: 99 },
    } as StalwartRequest;
    expect(reconstructMessage(body.message!).toString()).toBe('Subject: x\r\n\r\ncaf\uFFFD\r\n');
    expect(fromStalwart(body).incoming.message?.lossy).toBe(true);
  });

  it('takes the recipient being checked from the end of envelope.to, lower-cased; SASL login marks outbound', () => {
    const body = stalwartRequest('rcpt', {
      rcpts: ['A@Example.com', 'Bob@Example.NET'],
      login: 'alice',
    }) as StalwartRequest;
    const { incoming } = fromStalwart(body);
    expect(incoming.rcpt).toBe('bob@example.net');
    expect(incoming.to).toEqual([{ address: 'a@example.com' }, { address: 'bob@example.net' }]);
    expect(incoming.auth).toEqual({ login: 'alice' });
  });

  it('correlates stages of one connection by the TCP 4-tuple, and separates connections', () => {
    const a = stalwartSessionId(stalwartRequest('connect', { clientPort: 1000 }) as StalwartRequest);
    expect(stalwartSessionId(stalwartRequest('data', { clientPort: 1000 }, clean()) as StalwartRequest)).toBe(
      a,
    );
    expect(stalwartSessionId(stalwartRequest('connect', { clientPort: 1001 }) as StalwartRequest)).not.toBe(
      a,
    );
  });

  it('accepts the null sender and null ptr/helo at connect', () => {
    const body = stalwartRequest('mail', { from: '' }) as StalwartRequest;
    expect(fromStalwart(body).incoming.from).toEqual({ address: '' });
    const connect = fromStalwart(stalwartRequest('connect') as StalwartRequest).incoming;
    expect(connect.client).toEqual({ ip: '203.0.113.45', port: 40522 });
  });
});

describe('Verdict → Stalwart response', () => {
  it('always has an action; accept is the minimal valid body', () => {
    expect(toStalwart(verdict({}), 'connect', settings)).toEqual({ action: 'accept' });
  });

  it('puts the enhanced code under both keys for reject and tempfail', () => {
    expect(
      toStalwart(
        verdict({ action: 'reject', reply: { code: 550, enhanced: '5.7.1', text: 'Virus found: X' } }),
        'data',
        settings,
      ),
    ).toEqual({
      action: 'reject',
      response: { status: 550, enhanced_status: '5.7.1', enhancedStatus: '5.7.1', message: 'Virus found: X' },
    });
    expect(
      toStalwart(
        verdict({ action: 'tempfail', reply: { code: 451, enhanced: '4.7.1', text: 'later' } }),
        'rcpt',
        settings,
      ),
    ).toEqual({
      action: 'reject',
      response: { status: 451, enhanced_status: '4.7.1', enhancedStatus: '4.7.1', message: 'later' },
    });
  });

  it('never answers a tempfail with 5xx or a reject with 4xx, and keeps replies on one line', () => {
    const r = toStalwart(verdict({ action: 'tempfail', reply: { code: 550, text: 'x' } }), 'data', settings);
    expect(r.response?.status).toBe(451);
    const r2 = toStalwart(
      verdict({ action: 'reject', reply: { code: 554, text: 'a\r\nb' } }),
      'data',
      settings,
    );
    expect(r2.response?.message).toBe('a b');
  });

  it('sends modifications only at data, with valid types and no null parameters', () => {
    const mods: Verdict['modifications'] = [
      { type: 'addHeader', name: 'X-Virus-Scanned', value: 'ok\r\nInjected: yes' },
      { type: 'changeFrom', address: 'bounce@example.com', parameters: {} },
      { type: 'addRecipient', address: 'archive@example.com', parameters: { NOTIFY: 'NEVER' } },
      { type: 'replaceBody', body: 'x\r\n' },
    ];
    expect(toStalwart(verdict({ modifications: mods }), 'rcpt', settings)).toEqual({ action: 'accept' });
    const data = toStalwart(verdict({ modifications: mods }), 'data', settings);
    expect(data.modifications).toEqual([
      { type: 'addHeader', name: 'X-Virus-Scanned', value: 'ok Injected: yes' },
      { type: 'changeFrom', value: 'bounce@example.com' },
      { type: 'addRecipient', value: 'archive@example.com', parameters: { NOTIFY: 'NEVER' } },
      { type: 'replaceContents', value: 'x\r\n' },
    ]);
    expect(JSON.stringify(data)).not.toContain('null');
  });

  it('maps quarantine to accept plus a marker header by default, or to Stalwart quarantine when opted in', () => {
    expect(toStalwart(verdict({ action: 'quarantine' }), 'data', settings)).toEqual({
      action: 'accept',
      modifications: [{ type: 'addHeader', name: 'X-Hookgate-Quarantine', value: 'yes' }],
    });
    expect(
      toStalwart(verdict({ action: 'quarantine' }), 'data', { ...settings, quarantine: 'quarantine' }),
    ).toEqual({ action: 'quarantine' });
    expect(toStalwart(verdict({ action: 'discard' }), 'rcpt', settings)).toEqual({ action: 'discard' });
  });

  it("a message kept in hookgate's quarantine is refused naming the item, or discarded (issue 16)", () => {
    const kept = (answer: 'reject' | 'discard') =>
      verdict({
        action: 'quarantine',
        quarantine: { id: 'mj4x2c1k0qh3vw7zbn2', answer },
        reply: { code: 550, enhanced: '5.7.1', text: 'Message quarantined as mj4x2c1k0qh3vw7zbn2' },
        modifications: [{ type: 'addHeader', name: 'X-Q', value: '1' }],
      });
    for (const mode of ['reject', 'header', 'quarantine'] as const) {
      expect(toStalwart(kept('reject'), 'data', { ...settings, quarantine: mode })).toEqual({
        action: 'reject',
        response: {
          status: 550,
          enhanced_status: '5.7.1',
          enhancedStatus: '5.7.1',
          message: 'Message quarantined as mj4x2c1k0qh3vw7zbn2',
        },
      });
    }
    expect(toStalwart(kept('discard'), 'data', { ...settings, quarantine: 'discard' })).toEqual({
      action: 'discard',
    });
    // Not kept (no keeper, or before data): the MTA-side mapping applies.
    expect(
      toStalwart(verdict({ action: 'quarantine' }), 'data', { ...settings, quarantine: 'reject' }),
    ).toMatchObject({ action: 'accept' });
  });
});

describe('response encoding', () => {
  it.each([
    ['application/json', undefined, 'json'],
    ['application/msgpack', undefined, 'msgpack'],
    ['application/x-msgpack', undefined, 'msgpack'],
    ['application/msgpack', 'application/json', 'json'],
    ['application/json', 'application/msgpack', 'msgpack'],
    ['application/json', 'text/html, application/x-msgpack;q=0.5', 'msgpack'],
    ['application/msgpack', '*/*', 'msgpack'],
    ['application/json', 'application/json;q=0.1, application/msgpack', 'msgpack'],
  ])('%s with Accept %s → %s', (ct, accept, want) => {
    expect(responseEncoding(ct, accept).encoding).toBe(want);
  });
});
