import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { ScanResult, StageRequest, VerdictRecord } from '@hookgate/contracts';
import { createRedisClient, connectRedis, closeRedis, type RedisClient } from '@hookgate/redis';
import { TransactionStore, subscribeResults, type ResultNotice } from '@hookgate/state-store';
import { startRedis, type RedisDaemon } from '../../../test/support/daemons.js';

let redis: RedisDaemon;
let client: RedisClient;
let sub: RedisClient;

beforeAll(async () => {
  redis = await startRedis();
  client = createRedisClient({ mode: 'standalone', url: redis.url }, { role: 'command' });
  sub = createRedisClient({ mode: 'standalone', url: redis.url }, { role: 'subscriber' });
  await connectRedis(client);
  await connectRedis(sub);
});
afterAll(async () => {
  await closeRedis(client);
  await closeRedis(sub);
  await redis.stop();
});

const sid = () => randomBytes(6).toString('hex');
const req = (
  sessionId: string,
  stage: StageRequest['stage'],
  reqId = randomBytes(6).toString('hex'),
): StageRequest => ({
  v: 1,
  protocol: 'stalwart',
  stage,
  sessionId,
  txnId: '',
  reqId,
  client: { ip: '192.0.2.1' },
  receivedAt: 1,
  deadlineAt: 2,
});
const result = (scanner: string): ScanResult => ({
  v: 1,
  scanner,
  kind: 'av',
  outcome: { status: 'pass' },
  durationMs: 3,
  at: 4,
});

describe('TransactionStore', () => {
  it('numbers transactions: connect resets, mail starts one, rcpt/data join it, data closes it', async () => {
    const store = new TransactionStore(client, { prefix: 'ts1' });
    const s = sid();
    const seq = ['connect', 'ehlo', 'mail', 'rcpt', 'rcpt', 'data', 'mail', 'rcpt', 'data', 'data'] as const;
    const numbers: number[] = [];
    for (const stage of seq) numbers.push(await store.beginStage(req(s, stage)));
    expect(numbers).toEqual([0, 0, 1, 1, 1, 1, 2, 2, 2, 3]);
    const log = await store.stageLog(s);
    expect(log.map((e) => `${e.txn}:${e.stage}`)).toEqual(seq.map((st, i) => `${numbers[i]}:${st}`));
    expect(await store.beginStage(req(s, 'connect'))).toBe(0);
    expect(await store.stageLog(s)).toHaveLength(1);
  });

  it('numbers data-only hooks (Stalwart default) as one transaction each', async () => {
    const store = new TransactionStore(client, { prefix: 'ts2' });
    const s = sid();
    expect([await store.beginStage(req(s, 'data')), await store.beginStage(req(s, 'data'))]).toEqual([1, 2]);
  });

  it('stores message bytes once, with a TTL, next to the request (claim-check)', async () => {
    const store = new TransactionStore(client, { prefix: 'ts3', ttlMs: 30_000 });
    const s = sid();
    const r = req(s, 'data');
    const bytes = Buffer.from('Subject: hi\r\n\r\nbody\r\n');
    await store.beginStage(r, bytes);
    const loaded = await store.loadRequest(s, r.reqId);
    expect(Buffer.from(loaded!.message!)).toEqual(bytes);
    expect(loaded!.request.txnId).toBe(`${s}.1`);
    const ttl = await client.pttl(store.keys.request(s, r.reqId));
    expect(ttl).toBeGreaterThan(20_000);
    expect(ttl).toBeLessThanOrEqual(30_000);
  });

  it('keeps message bytes only as long as asked, and drops them when the stage is finalized (issue 11)', async () => {
    const store = new TransactionStore(client, { prefix: 'ts3b', ttlMs: 60_000 });
    const s = sid();
    const r = req(s, 'data');
    await store.beginStage(r, Buffer.alloc(1000, 'x'), 5_000);
    const bytesTtl = await client.pttl(store.keys.message(s, r.reqId));
    expect(bytesTtl).toBeGreaterThan(0);
    expect(bytesTtl).toBeLessThanOrEqual(5_000);
    const record: VerdictRecord = {
      v: 1,
      reqId: r.reqId,
      txnId: `${s}.1`,
      stage: 'data',
      expected: [],
      results: [],
      answeredAt: 1,
      durationMs: 1,
      verdict: { v: 1, action: 'accept', modifications: [], reasons: [], decidedBy: [], partial: false },
    };
    expect(await store.finalize(s, record, { dropMessage: true })).toBe(true);
    expect(await client.exists(store.keys.message(s, r.reqId))).toBe(0);
    // The request and its record stay (small); a worker that comes too late finds the request without bytes.
    const late = await store.loadRequest(s, r.reqId);
    expect(late!.request.stage).toBe('data');
    expect(late!.message).toBeUndefined();
  });

  it('records a result once per scanner and notifies only the waiting instance', async () => {
    const store = new TransactionStore(client, { prefix: 'ts4' });
    const got: ResultNotice[] = [];
    const other: ResultNotice[] = [];
    const unsubA = await subscribeResults(sub, store, 'instance-a', (n) => got.push(n));
    const unsubB = await subscribeResults(sub, store, 'instance-b', (n) => other.push(n));
    const s = sid();
    // A result for a request that is not (or no longer) stored is refused rather than leaked without a TTL.
    expect(await store.recordResult(s, 'r1', result('clamav'), 'instance-a')).toBe('expired');
    await store.beginStage(req(s, 'data', 'r1'));
    expect(await store.recordResult(s, 'r1', result('clamav'), 'instance-a')).toBe('stored');
    expect(await store.recordResult(s, 'r1', { ...result('clamav'), durationMs: 99 }, 'instance-a')).toBe(
      'duplicate',
    );
    await expect.poll(() => got.length).toBe(1);
    expect(got[0]!.result.durationMs).toBe(3);
    expect(other).toHaveLength(0);
    expect((await store.results(s, 'r1')).map((r) => r.durationMs)).toEqual([3]);
    await unsubA();
    await unsubB();
  });

  it('finalizes a verdict once: a later write never replaces the answer given', async () => {
    const store = new TransactionStore(client, { prefix: 'ts5' });
    const s = sid();
    const record = (action: 'accept' | 'reject'): VerdictRecord => ({
      v: 1,
      reqId: 'r1',
      txnId: `${s}.1`,
      stage: 'data',
      expected: [],
      results: [],
      answeredAt: 1,
      durationMs: 1,
      verdict: { v: 1, action, modifications: [], reasons: [], decidedBy: [], partial: false },
    });
    await store.beginStage(req(s, 'data', 'r1'));
    expect(await store.finalize(s, record('accept'))).toBe(true);
    expect(await store.finalize(s, record('reject'))).toBe(false);
    expect((await store.verdict(s, 'r1'))?.verdict.action).toBe('accept');
  });

  it('rejects values in Redis that are not its own (trust boundary)', async () => {
    const store = new TransactionStore(client, { prefix: 'ts6' });
    await client.hset(store.keys.request('x', 'y'), 'req', 'not msgpack at all \xc1');
    await expect(store.loadRequest('x', 'y')).rejects.toMatchObject({ code: 'HOOKGATE_ERR_STORE_CORRUPT' });
  });

  it('keeps every key of a session in one Cluster slot (hash tag)', () => {
    const k = new TransactionStore(client, { prefix: 'p' }).keys;
    const tags = [k.session('S'), k.log('S'), k.request('S', 'r'), k.message('S', 'r')].map(
      (x) => /\{([^}]*)\}/.exec(x)?.[1],
    );
    expect(new Set(tags)).toEqual(new Set(['S']));
  });

  it('appends a content-free summary per finalized stage to a capped feed, and indexes queue ids with the state TTL (issue 16)', async () => {
    const store = new TransactionStore(client, {
      prefix: 'ts7',
      ttlMs: 60_000,
      feedEntries: 10,
      indexQueueIds: true,
    });
    const s = sid();
    const record = (reqId: string): VerdictRecord => ({
      v: 1,
      reqId,
      txnId: `${s}.1`,
      stage: 'data',
      expected: ['clamav'],
      answeredAt: 7,
      durationMs: 12,
      results: [
        {
          v: 1,
          scanner: 'clamav',
          kind: 'av',
          outcome: { status: 'error', code: 'HOOKGATE_ERR_SCAN_TIMEOUT', message: 'late', retryable: true },
          durationMs: 9,
          at: 5,
        },
      ],
      verdict: {
        v: 1,
        action: 'tempfail',
        modifications: [],
        reasons: ['clamav:timeout'],
        decidedBy: ['clamav'],
        partial: true,
        policy: 'default',
      },
    });
    for (let i = 0; i < 300; i++) {
      await store.beginStage(req(s, 'data', `r${i}`));
      await store.finalize(s, record(`r${i}`), { context: { protocol: 'milter', queueId: 'ABC123' } });
    }
    const [newest, before] = await store.recentVerdicts({ count: 2 });
    expect(newest).toMatchObject({
      reqId: 'r299',
      txnId: `${s}.1`,
      protocol: 'milter',
      queueId: 'ABC123',
      action: 'tempfail',
      reasons: ['clamav:timeout'],
      partial: true,
      durationMs: 12,
      scanners: [{ id: 'clamav', status: 'error', ms: 9, code: 'HOOKGATE_ERR_SCAN_TIMEOUT' }],
    });
    expect(before!.reqId).toBe('r298');
    expect(JSON.stringify(newest)).not.toMatch(/late|example/);
    expect((await store.recentVerdicts({ after: before!.id })).map((e) => e.reqId)).toEqual(['r299']);
    // Trimmed approximately (whole stream nodes at a time), but bounded.
    expect(await client.xlen(store.keys.feed())).toBeLessThan(150);
    expect(await store.transactionOfQueueId('ABC123')).toBe(`${s}.1`);
    const ttl = await client.pttl(store.keys.queueId('ABC123'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    // Off by default: nothing is written.
    const plain = new TransactionStore(client, { prefix: 'ts8' });
    await plain.beginStage(req(s, 'data', 'p1'));
    await plain.finalize(s, record('p1'), { context: { protocol: 'milter', queueId: 'ZZZ' } });
    expect(await client.exists(plain.keys.feed(), plain.keys.queueId('ZZZ'))).toBe(0);
  });
});
