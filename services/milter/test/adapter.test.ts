import { describe, expect, it } from 'vitest';
import type { Modification } from '@hookgate/contracts';
import {
  Act,
  FrameDecoder,
  assembleMessage,
  replyLine,
  subjectOf,
  toEnvelopeAddress,
  toIncoming,
  verdictReplies,
  type ReplyContext,
} from '../src/index.js';
import { verdict } from '../../../test/support/verdicts.js';

const replies = {
  tempfail: { code: 451, enhanced: '4.7.1', text: 'try later' },
  reject: { code: 550, enhanced: '5.7.1', text: 'no' },
};
const ALL = 0x1ff;
const ctx = (over: Partial<ReplyContext> = {}): ReplyContext => ({
  actions: ALL,
  leadingSpace: true,
  replies,
  ...over,
});

/** Decoded replies as [cmd, data as latin1]. */
function decode(frames: Buffer[]): [string, string][] {
  return new FrameDecoder(1 << 20).push(Buffer.concat(frames)).map((f) => [f.cmd, f.data.toString('latin1')]);
}

describe('message reassembly', () => {
  const h = (name: string, value: string) => ({
    name: Buffer.from(name),
    value: Buffer.from(value, 'latin1'),
  });

  it('keeps the bytes as received with leading spaces negotiated: Name:value CRLF, blank line, body', () => {
    const msg = assembleMessage(
      [h('From', ' a@example.org'), h('Subject', 'no-space'), h('X-Folded', ' line one\n\tline two')],
      [Buffer.from('body\r\n'), Buffer.from('more\r\n')],
      true,
    );
    expect(msg.toString('latin1')).toBe(
      'From: a@example.org\r\nSubject:no-space\r\nX-Folded: line one\r\n\tline two\r\n\r\nbody\r\nmore\r\n',
    );
  });

  it('puts the one space back when the MTA stripped it (no SMFIP_HDR_LEADSPC)', () => {
    expect(assembleMessage([h('To', 'b@example.net')], [], false).toString()).toBe(
      'To: b@example.net\r\n\r\n',
    );
  });

  it('8-bit header bytes survive untouched', () => {
    const msg = assembleMessage(
      [{ name: Buffer.from('Subject'), value: Buffer.from([0x20, 0xe9, 0xff]) }],
      [Buffer.from([0x80, 0x0d, 0x0a])],
      true,
    );
    expect([...msg]).toEqual([...Buffer.from('Subject:'), 0x20, 0xe9, 0xff, 13, 10, 13, 10, 0x80, 13, 10]);
  });

  it('subject: first one, unfolded and trimmed', () => {
    expect(subjectOf([h('subject', ' Hello\n world '), h('Subject', ' second')])).toBe('Hello world');
    expect(subjectOf([h('From', ' x')])).toBeUndefined();
  });
});

describe('stage requests', () => {
  const env = {
    sessionId: 's1',
    client: { ip: '192.0.2.1', port: 4000, helo: 'mx.example.org' },
    rcpts: [{ address: 'a@example.net' }],
  };

  it('rcpt carries the recipient being checked and the ones accepted before it', () => {
    const r = toIncoming(
      { ...env, from: { address: 'x@example.org' }, auth: { login: 'alice' }, queueId: 'Q1' },
      'rcpt',
      { rcpt: { address: 'b@example.net' } },
    );
    expect(r).toMatchObject({
      protocol: 'milter',
      stage: 'rcpt',
      sessionId: 's1',
      rcpt: 'b@example.net',
      auth: { login: 'alice' },
      queueId: 'Q1',
    });
    expect(r.to).toEqual([{ address: 'a@example.net' }, { address: 'b@example.net' }]);
  });

  it('addresses lose their brackets and case; ESMTP arguments become parameters', () => {
    expect(toEnvelopeAddress('<Alice@Example.ORG>', ['SIZE=100', 'SMTPUTF8'])).toEqual({
      address: 'alice@example.org',
      parameters: { SIZE: '100', SMTPUTF8: '' },
    });
    expect(toEnvelopeAddress('<>', [])).toEqual({ address: '' });
  });
});

describe('verdicts → replies', () => {
  it('accept before end of message is continue; at end of message, accept', () => {
    expect(decode(verdictReplies(verdict({}), 'rcpt', ctx()).frames)).toEqual([['c', '']]);
    expect(decode(verdictReplies(verdict({}), 'data', ctx()).frames)).toEqual([['a', '']]);
  });

  it('reject and tempfail: SMFIR_REPLYCODE with code, enhanced code and text', () => {
    const r = verdictReplies(
      verdict({ action: 'reject', reply: { code: 550, enhanced: '5.7.1', text: 'Virus found: Eicar' } }),
      'data',
      ctx(),
    );
    expect(decode(r.frames)).toEqual([['y', '550 5.7.1 Virus found: Eicar\0']]);
    const t = verdictReplies(
      verdict({ action: 'tempfail', reply: { code: 451, enhanced: '4.7.1', text: 'Greylisted' } }),
      'rcpt',
      ctx(),
    );
    expect(decode(t.frames)).toEqual([['y', '451 4.7.1 Greylisted\0']]);
  });

  it('reply lines: wrong class falls back, enhanced class follows the code, text is one printable line, % doubled', () => {
    expect(replyLine({ code: 250, text: 'ok' }, 'reject', replies.reject)).toBe('550 5.7.1 no');
    expect(
      replyLine({ code: 451, enhanced: '5.7.1', text: 'a\r\nb é 100%' }, 'tempfail', replies.tempfail),
    ).toBe('451 4.7.1 a b ? 100%%');
    expect(replyLine(undefined, 'tempfail', replies.tempfail)).toBe('451 4.7.1 try later');
  });

  it('discard', () => {
    expect(decode(verdictReplies(verdict({ action: 'discard' }), 'data', ctx()).frames)).toEqual([['d', '']]);
  });

  it('quarantine at end of message: modifications, SMFIR_QUARANTINE, then accept', () => {
    const r = verdictReplies(
      verdict({
        action: 'quarantine',
        reasons: ['clamav:virus:Eicar'],
        modifications: [{ type: 'addHeader', name: 'X-Q', value: 'yes' }],
      }),
      'data',
      ctx(),
    );
    expect(decode(r.frames)).toEqual([
      ['h', 'X-Q\0 yes\0'],
      ['q', 'hookgate: clamav:virus:Eicar\0'],
      ['a', ''],
    ]);
  });

  it("a message kept in hookgate's quarantine is refused naming the item, or discarded; never held (issue 16)", () => {
    const kept = (answer: 'reject' | 'discard') =>
      verdict({
        action: 'quarantine',
        quarantine: { id: 'mj4x2c1k0qh3vw7zbn2', answer },
        reply: { code: 550, enhanced: '5.7.1', text: 'Message quarantined as mj4x2c1k0qh3vw7zbn2' },
        modifications: [{ type: 'addHeader', name: 'X-Q', value: 'yes' }],
      });
    expect(decode(verdictReplies(kept('reject'), 'data', ctx()).frames)).toEqual([
      ['y', '550 5.7.1 Message quarantined as mj4x2c1k0qh3vw7zbn2\0'],
    ]);
    expect(decode(verdictReplies(kept('discard'), 'data', ctx()).frames)).toEqual([['d', '']]);
  });

  it('quarantine before end of message is remembered and applied at the end', () => {
    const early = verdictReplies(verdict({ action: 'quarantine', reasons: ['policy:x'] }), 'rcpt', ctx());
    expect(decode(early.frames)).toEqual([['c', '']]);
    expect(early.deferQuarantine).toBe('hookgate: policy:x');
    const end = verdictReplies(verdict({}), 'data', ctx({ pendingQuarantine: early.deferQuarantine! }));
    expect(decode(end.frames)).toEqual([
      ['q', 'hookgate: policy:x\0'],
      ['a', ''],
    ]);
  });

  const mods: Modification[] = [
    { type: 'addHeader', name: 'X-Virus-Scanned', value: 'hookgate' },
    { type: 'insertHeader', index: 0, name: 'X-First', value: 'top' },
    { type: 'changeHeader', index: 1, name: 'Subject', value: '[SPAM] hi' },
    { type: 'deleteHeader', index: 2, name: 'Received' },
    { type: 'changeFrom', address: 'bounce@example.org', parameters: { BODY: '8BITMIME' } },
    { type: 'addRecipient', address: 'archive@example.org' },
    { type: 'addRecipient', address: 'audit@example.org', parameters: { NOTIFY: 'NEVER' } },
    { type: 'deleteRecipient', address: 'bob@example.net' },
    { type: 'replaceBody', body: 'new\nbody\n' },
  ];

  it('every modification maps to its milter action', () => {
    const r = verdictReplies(verdict({ modifications: mods }), 'data', ctx());
    expect(r.dropped).toEqual([]);
    expect(decode(r.frames)).toEqual([
      ['h', 'X-Virus-Scanned\0 hookgate\0'],
      ['i', '\0\0\0\0X-First\0 top\0'],
      ['m', '\0\0\0\x01Subject\0 [SPAM] hi\0'],
      ['m', '\0\0\0\x02Received\0\0'],
      ['e', '<bounce@example.org>\0BODY=8BITMIME\0'],
      ['+', '<archive@example.org>\0'],
      ['2', '<audit@example.org>\0NOTIFY=NEVER\0'],
      ['-', '<bob@example.net>\0'],
      ['b', 'new\r\nbody\r\n'],
      ['a', ''],
    ]);
  });

  it('only what was negotiated is sent; the rest is reported as dropped', () => {
    const r = verdictReplies(
      verdict({ modifications: mods }),
      'data',
      ctx({ actions: Act.ADDHDRS | Act.ADDRCPT, leadingSpace: false }),
    );
    expect(decode(r.frames)).toEqual([
      ['h', 'X-Virus-Scanned\0hookgate\0'],
      ['i', '\0\0\0\0X-First\0top\0'],
      ['+', '<archive@example.org>\0'],
      ['+', '<audit@example.org>\0'],
      ['a', ''],
    ]);
    expect(r.dropped).toEqual([
      'changeHeader: SMFIF_CHGHDRS not negotiated',
      'deleteHeader: SMFIF_CHGHDRS not negotiated',
      'changeFrom: SMFIF_CHGFROM not negotiated',
      'deleteRecipient: SMFIF_DELRCPT not negotiated',
      'replaceBody: SMFIF_CHGBODY not negotiated',
    ]);
  });

  it('modifications before end of message are dropped (the protocol allows them only there)', () => {
    const r = verdictReplies(verdict({ modifications: [mods[0]!] }), 'mail', ctx());
    expect(decode(r.frames)).toEqual([['c', '']]);
    expect(r.dropped).toEqual(['addHeader: only allowed at end of message']);
  });

  it('header values cannot inject lines; invalid names are dropped', () => {
    const r = verdictReplies(
      verdict({
        modifications: [
          { type: 'addHeader', name: 'X-A', value: 'one\r\nBcc: evil' },
          { type: 'addHeader', name: 'Bad Name', value: 'x' },
        ],
      }),
      'data',
      ctx(),
    );
    expect(decode(r.frames)[0]).toEqual(['h', 'X-A\0 one Bcc: evil\0']);
    expect(r.dropped).toEqual(['addHeader: invalid header name']);
  });

  it('a quarantine the MTA did not grant is reported and the message accepted', () => {
    const r = verdictReplies(verdict({ action: 'quarantine' }), 'data', ctx({ actions: Act.ADDHDRS }));
    expect(decode(r.frames)).toEqual([['a', '']]);
    expect(r.dropped).toEqual(['quarantine: SMFIF_QUARANTINE not negotiated (message accepted)']);
  });
});
