/**
 * Issue 16: release delivers the original bytes unchanged over SMTP to the configured relay. A real Postfix takes
 * the message and relays it to smtp-sink, which writes it to a file; the bytes after the headers Postfix and
 * smtp-sink prepend equal the kept message. A relay that refuses, or none listening, leaves the item held.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ERR, type StageRequest, type VerdictRecord } from '@hookgate/contracts';
import { createRedisClient, connectRedis, closeRedis, type RedisClient } from '@hookgate/redis';
import { Quarantine, RedisQuarantineStore, smtpRelay } from '@hookgate/quarantine';
import { freePort, startRedis, type RedisDaemon } from '../../../test/support/daemons.js';
import { startPostfix, type PostfixInstance } from '../../../test/support/postfix.js';
import { rfc5322Date } from '../../../test/support/samples.js';

let redis: RedisDaemon;
let client: RedisClient;
let postfix: PostfixInstance;

beforeAll(async () => {
  redis = await startRedis();
  client = createRedisClient(
    { mode: 'standalone', url: redis.url },
    { role: 'command', commandTimeoutMs: 5000 },
  );
  await connectRedis(client);
  postfix = await startPostfix({
    listeners: [{ name: 'relay', milters: null }],
    main: {
      // Take the message as it is: no header rewriting for loopback clients, and refuse one domain's recipients.
      local_header_rewrite_clients: '',
      smtpd_recipient_restrictions:
        'check_recipient_access inline:{ refused.example=REJECT }, permit_mynetworks, reject',
    },
  });
});
afterAll(async () => {
  await postfix?.stop();
  await closeRedis(client);
  await redis?.stop();
});

function request(to: string[], from = 'alice@example.org'): StageRequest {
  return {
    v: 1,
    protocol: 'milter',
    stage: 'data',
    sessionId: 's',
    txnId: 's.1',
    reqId: randomBytes(6).toString('hex'),
    client: { ip: '192.0.2.7' },
    from: { address: from },
    to: to.map((address) => ({ address })),
    receivedAt: 1,
    deadlineAt: 2,
  };
}
const record: VerdictRecord = {
  v: 1,
  reqId: 'r',
  txnId: 's.1',
  stage: 'data',
  expected: [],
  results: [],
  answeredAt: 1,
  durationMs: 1,
  verdict: {
    v: 1,
    action: 'quarantine',
    modifications: [],
    reasons: ['clamav:virus:Eicar'],
    decidedBy: ['clamav'],
    partial: false,
  },
};

/** A message with what Postfix would otherwise add or change: long folded header, 8-bit text, a leading-dot line. */
function original(marker: string): Buffer {
  return Buffer.concat([
    Buffer.from(
      `From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: Quarterly\r\n =?utf-8?q?r=C3=A9sum=C3=A9?=\r\n` +
        `Date: ${rfc5322Date(new Date())}\r\nMessage-ID: <${marker}@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n`,
    ),
    Buffer.from('Grüße,\r\n.a line starting with a dot\r\n..two dots\r\nTrailing spaces   \r\n', 'utf8'),
    Buffer.from(`end ${marker}\r\n`),
  ]);
}

function quarantine(url: string): Quarantine {
  return new Quarantine({
    store: new RedisQuarantineStore(client, {
      prefix: `r${randomBytes(3).toString('hex')}`,
      maxBytes: 1 << 24,
    }),
    retentionMs: 3_600_000,
    relay: smtpRelay({ url, timeoutMs: 10_000, name: 'hookgate.test' }),
  });
}

describe('release over SMTP to a real Postfix', () => {
  it('delivers the kept bytes unchanged with the original envelope', async () => {
    const q = quarantine(`smtp://127.0.0.1:${postfix.ports.relay}`);
    const marker = randomBytes(6).toString('hex');
    const bytes = original(marker);
    const id = await q.keep(
      request(['bob@example.net', 'carol@example.net'], 'alice@example.org'),
      bytes,
      record,
    );
    const r = await q.release(id, 'ops');
    expect(r.reply).toMatch(/^250 2\.0\.0 Ok: queued as \S+/);
    expect(r.accepted).toEqual(['bob@example.net', 'carol@example.net']);
    const delivered = await postfix.waitForDelivery((c) => c.includes(`end ${marker}`));
    const raw = readFileSync(delivered.file);
    // smtp-sink writes its X-* envelope lines and Received header, then Postfix's Received header (naming our EHLO),
    // then the message as it arrived; it stores lines with LF where SMTP carried CRLF, and ends the file with an
    // empty line of its own.
    const start = raw.indexOf('From: Alice');
    expect(start).toBeGreaterThan(0);
    expect(raw.subarray(raw.lastIndexOf('Received: ', start), start).toString()).toMatch(
      /^Received: from hookgate\.test /,
    );
    expect(
      raw.subarray(start, -1).equals(Buffer.from(bytes.toString('latin1').replace(/\r\n/g, '\n'), 'latin1')),
    ).toBe(true);
    expect(delivered.content).toMatch(/X-Mail-Args: <alice@example\.org>/);
    expect(delivered.content).toMatch(/X-Rcpt-Args: <bob@example\.net>/);
    expect(delivered.content).toMatch(/X-Rcpt-Args: <carol@example\.net>/);
    const queueId = /queued as (\S+)/.exec(r.reply)![1]!;
    expect((await q.show(id, 'ops', false)).audit.at(-1)).toMatchObject({
      who: 'ops',
      what: 'release',
      detail: expect.stringContaining(queueId),
    });
  });

  it('a null sender is released as MAIL FROM:<>', async () => {
    const q = quarantine(`smtp://127.0.0.1:${postfix.ports.relay}`);
    const marker = randomBytes(6).toString('hex');
    const id = await q.keep(request(['bob@example.net'], ''), original(marker), record);
    await q.release(id, 'ops');
    const delivered = await postfix.waitForDelivery((c) => c.includes(`end ${marker}`));
    expect(delivered.content).toMatch(/X-Mail-Args: <> /);
  });

  it('recipients the relay refuses are reported; the others get the message', async () => {
    const q = quarantine(`smtp://127.0.0.1:${postfix.ports.relay}`);
    const marker = randomBytes(6).toString('hex');
    const id = await q.keep(request(['bob@example.net', 'x@refused.example']), original(marker), record);
    const r = await q.release(id, 'ops');
    expect(r.refused).toEqual(['x@refused.example']);
    expect((await q.show(id, 'ops', false)).outcome).toMatchObject({
      what: 'released',
      refused: ['x@refused.example'],
    });
    await postfix.waitForDelivery((c) => c.includes(`end ${marker}`));
  });

  it('a relay that refuses every recipient, or none listening, is a 502 RELAY_FAILED and the item stays held', async () => {
    const refusing = quarantine(`smtp://127.0.0.1:${postfix.ports.relay}`);
    const id = await refusing.keep(request(['x@refused.example']), original('r'), record);
    await expect(refusing.release(id, 'ops')).rejects.toMatchObject({
      code: ERR.RELAY_FAILED,
      message: expect.stringMatching(/554 5\.7\.1 <x@refused\.example>: Recipient address rejected/),
    });
    expect((await refusing.show(id, 'ops', false)).status).toBe('held');

    const closed = quarantine(`smtp://127.0.0.1:${await freePort()}`);
    const id2 = await closed.keep(request(['bob@example.net']), original('c'), record);
    await expect(closed.release(id2, 'ops')).rejects.toMatchObject({
      code: ERR.RELAY_FAILED,
      message: expect.stringMatching(/ECONNECTION|ECONNREFUSED/),
    });
    const view = await closed.show(id2, 'ops', false);
    expect(view.status).toBe('held');
    expect(view.audit.at(-1)).toMatchObject({ what: 'release-failed', who: 'ops' });
  });
});
