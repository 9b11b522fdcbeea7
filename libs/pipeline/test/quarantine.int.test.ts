/**
 * Issue 16: a quarantine verdict is answered only once the message is kept, naming the item; a message that cannot
 * be kept (store full, failing or too slow) is answered tempfail, so the MTA keeps it — and an item kept after that
 * answer is removed again, so the MTA's retry leaves no second copy. Real Redis, clamd, BullMQ and quarantine store.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { clamavScanner } from '@hookgate/scanner-av';
import { createRedisClient, connectRedis, closeRedis, type RedisClient } from '@hookgate/redis';
import { Quarantine, RedisQuarantineStore, quarantineKeeper } from '@hookgate/quarantine';
import type { IncomingStage } from '@hookgate/pipeline';
import { startRedis, startClamd, type RedisDaemon, type ClamdDaemon } from '../../../test/support/daemons.js';
import { startStack, policy, type Stack } from '../../../test/support/stack.js';
import { eicarInline, toEml } from '../../../test/support/samples.js';

let redis: RedisDaemon;
let qRedis: RedisDaemon;
let clamd: ClamdDaemon;
let qClient: RedisClient;
const stacks: Stack[] = [];

beforeAll(async () => {
  [redis, qRedis, clamd] = await Promise.all([startRedis(), startRedis(), startClamd()]);
  // The quarantine on its own Redis, so a test can stall it without stalling the pipeline's.
  qClient = createRedisClient(
    { mode: 'standalone', url: qRedis.url },
    { role: 'command', commandTimeoutMs: 20_000 },
  );
  qClient.on('error', () => undefined);
  await connectRedis(qClient);
});
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await closeRedis(qClient);
  await Promise.all([redis?.stop(), qRedis?.stop(), clamd?.stop()]);
});

const clamav = () =>
  clamavScanner({
    endpoint: clamd.tcp,
    stages: ['data'],
    maxStreamBytes: 1 << 24,
    chunkBytes: 65536,
    action: 'quarantine',
    reply: { code: 550, enhanced: '5.7.1', text: 'Virus found: {virus}' },
    header: null,
  });

function quarantine(maxBytes = 1 << 22): Quarantine {
  return new Quarantine({
    store: new RedisQuarantineStore(qClient, { prefix: `p${randomBytes(3).toString('hex')}`, maxBytes }),
    retentionMs: 3_600_000,
  });
}

async function stack(
  q: Quarantine,
  answers: Parameters<typeof quarantineKeeper>[1]['answers'] = { milter: 'reject' },
  dataBudgetMs = 4000,
): Promise<Stack> {
  const s = await startStack({
    redisUrl: redis.url,
    routes: [{ id: 'clamav', stages: ['data'], policy: policy('clamav', true) }],
    workers: [clamav()],
    dataBudgetMs,
    quarantine: quarantineKeeper(q, {
      answers,
      reply: { code: 550, enhanced: '5.7.1', text: 'Message quarantined as {id}' },
    }),
    feedEntries: 100,
  });
  stacks.push(s);
  return s;
}

const data = (protocol: IncomingStage['protocol'] = 'milter'): [IncomingStage, Buffer] => {
  const bytes = Buffer.from(toEml(eicarInline()));
  const sessionId = randomBytes(6).toString('hex');
  return [
    {
      protocol,
      stage: 'data',
      sessionId,
      client: { ip: '192.0.2.7' },
      from: { address: 'a@example.org' },
      to: [{ address: 'b@example.net' }],
      queueId: 'QID1',
      message: { size: bytes.length, storedBytes: bytes.length, lossy: false, subject: 'eicar' },
    },
    bytes,
  ];
};

describe('quarantine verdicts in the stage pipeline', () => {
  it('keeps the message before answering: the verdict names the item and the record and feed carry its id', async () => {
    const q = quarantine();
    const s = await stack(q);
    const [incoming, bytes] = data();
    const out = await s.pipeline.handle(incoming, bytes);
    const id = out.verdict.quarantine?.id;
    expect(out.verdict).toMatchObject({
      action: 'quarantine',
      quarantine: { answer: 'reject' },
      reply: { code: 550, enhanced: '5.7.1', text: `Message quarantined as ${id}` },
    });
    // Kept before the answer: it is there as soon as handle() returns.
    const item = await q.show(id!, 'test', true);
    expect(Buffer.from(item.message!.base64, 'base64').equals(bytes)).toBe(true);
    expect(item).toMatchObject({
      status: 'held',
      txnId: out.request.txnId,
      queueId: 'QID1',
      from: 'a@example.org',
      to: ['b@example.net'],
      protocol: 'milter',
    });
    expect(item.record.verdict.reasons.join()).toMatch(/clamav:virus:/);
    expect(item.record.results.map((r) => r.scanner)).toEqual(['clamav']);
    await out.recorded;
    expect((await s.store.verdict(incoming.sessionId, out.request.reqId))?.verdict.quarantine).toEqual({
      id,
      answer: 'reject',
    });
    const [entry] = await s.store.recentVerdicts({ count: 1 });
    expect(entry).toMatchObject({
      action: 'quarantine',
      quarantineId: id,
      protocol: 'milter',
      queueId: 'QID1',
      stage: 'data',
      scanners: [{ id: 'clamav', status: 'fail' }],
    });
  });

  it('answers as configured per protocol: discard, or no keeping where the MTA holds quarantined mail itself', async () => {
    const q = quarantine();
    const s = await stack(q, { milter: 'discard' });
    const kept = await s.pipeline.handle(...data('milter'));
    expect(kept.verdict.quarantine).toMatchObject({ answer: 'discard' });
    const notKept = await s.pipeline.handle(...data('stalwart'));
    expect(notKept.verdict.action).toBe('quarantine');
    expect(notKept.verdict.quarantine).toBeUndefined();
    expect((await q.list({})).items.map((i) => i.id)).toEqual([kept.verdict.quarantine!.id]);
  });

  it('a full quarantine answers tempfail (452 4.3.1) and keeps nothing: the MTA still has the message', async () => {
    const q = quarantine(100);
    const s = await stack(q);
    const out = await s.pipeline.handle(...data());
    expect(out.verdict).toMatchObject({
      action: 'tempfail',
      reply: { code: 452, enhanced: '4.3.1' },
      decidedBy: ['clamav', 'quarantine'],
    });
    expect(out.verdict.reasons).toContain('quarantine:full');
    expect(out.verdict.quarantine).toBeUndefined();
    expect((await q.list({ status: 'any' })).items).toEqual([]);
  });

  it('a quarantine store that stalls is answered tempfail by the deadline; the item it keeps later is removed', async () => {
    const q = quarantine();
    const s = await stack(q, { milter: 'reject' }, 2500);
    const [incoming, bytes] = data();
    qRedis.signal('SIGSTOP');
    let out;
    try {
      out = await s.pipeline.handle(incoming, bytes);
    } finally {
      qRedis.signal('SIGCONT');
    }
    expect(out.verdict).toMatchObject({ action: 'tempfail', reply: { code: 451, enhanced: '4.3.0' } });
    expect(out.verdict.reasons).toContain('quarantine:unavailable');
    expect(Date.now()).toBeLessThanOrEqual(out.request.deadlineAt + 1000);
    // The keep completes once Redis runs again, and is undone: no held item, a tombstone saying why.
    await expect
      .poll(async () => (await q.list({ status: 'any' })).items.map((i) => i.status), { timeout: 10_000 })
      .toEqual(['deleted']);
    const [gone] = (await q.list({ status: 'any' })).items;
    expect((await q.show(gone!.id, 'test', false)).audit.map((a) => `${a.who}:${a.what}`)).toEqual([
      'hookgate:keep',
      'hookgate:delete',
    ]);
  });
});
