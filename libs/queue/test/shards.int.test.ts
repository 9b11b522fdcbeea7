/**
 * Issue 13: a scanner queue split into shards. The layout is pure (names, slots, session → shard); the producer and
 * the workers run on a real Redis with real BullMQ: jobs spread over the shards by session, depth sums them, and a
 * shard whose consumer hangs does not hold up the others.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import slotOf from 'cluster-key-slot';
import { createRedisClient, connectRedis, closeRedis, type RedisClient } from '@hookgate/redis';
import type { ScanJob } from '@hookgate/contracts';
import {
  ScanProducer,
  bullQueueName,
  bullQueueNames,
  createScanWorker,
  shardLayout,
  shardOfSession,
  type ScanWorkerHandle,
} from '@hookgate/queue';
import { startRedis, waitUntil, type RedisDaemon } from '../../../test/support/daemons.js';

const range = (name: string, n: number) => Math.floor((slotOf(`{${name}}`) * n) / 16384);

describe('shard layout', () => {
  it('one shard is the unsharded queue name of earlier versions', () => {
    expect(bullQueueNames('clamav', 1)).toEqual(['{scan-clamav}']);
    expect(bullQueueNames('clamav')).toEqual([bullQueueName('clamav')]);
  });

  it.each([2, 3, 6, 16])(
    '%i shards: shard 0 keeps the old name, every slot range holds exactly one shard',
    (n) => {
      const { names, byRange } = shardLayout('scan-clamav', n);
      expect(names).toHaveLength(n);
      expect(names[0]).toBe('scan-clamav');
      expect(new Set(names).size).toBe(n);
      expect(new Set(names.map((x) => range(x, n)))).toEqual(new Set(Array.from({ length: n }, (_, i) => i)));
      for (let r = 0; r < n; r++) expect(range(names[byRange[r]!]!, n)).toBe(r);
      // Every process computes the same layout.
      expect(shardLayout('scan-clamav', n)).toEqual({ names, byRange });
    },
  );

  it('refuses a shard count out of range', () => {
    expect(() => shardLayout('scan-x', 0)).toThrow(/from 1 to 256/);
    expect(() => shardLayout('scan-x', 1.5)).toThrow(/integer/);
  });

  it('a session always maps to the shard in its own slot range, and sessions spread evenly', () => {
    const n = 3;
    const layout = shardLayout('scan-dlp', n);
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) {
      const sid = `127.0.0.1:${20000 + i}-${i * 7919}`;
      const shard = shardOfSession(layout, sid);
      expect(shardOfSession(layout, sid)).toBe(shard);
      expect(range(layout.names[shard]!, n)).toBe(Math.floor((slotOf(`{${sid}}`) * n) / 16384));
      counts[shard]!++;
    }
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });
});

describe('sharded queues on a real Redis', () => {
  let redis: RedisDaemon;
  let client: RedisClient;
  let worker: RedisClient;
  const prefix = `hgq${process.pid}`;

  beforeAll(async () => {
    redis = await startRedis();
    client = createRedisClient({ mode: 'standalone', url: redis.url }, { role: 'command' });
    worker = createRedisClient({ mode: 'standalone', url: redis.url }, { role: 'worker' });
    await Promise.all([connectRedis(client), connectRedis(worker)]);
  });
  afterAll(async () => {
    await Promise.all([client && closeRedis(client), worker && closeRedis(worker)]);
    await redis?.stop();
  });

  const job = (scanner: string, i: number): ScanJob => ({
    v: 1,
    sessionId: `sess-${scanner}-${i}`,
    txnId: `t${i}`,
    reqId: `r${i}`,
    stage: 'data',
    scanner,
    deadlineAt: Date.now() + 60_000,
    replyTo: 'nobody',
  });

  it('jobs land on the shard of their session; depth is the sum over shards; a repeated fan-out adds nothing', async () => {
    const producer = new ScanProducer(client, { prefix, shards: { spread: 3 } });
    const jobs = Array.from({ length: 60 }, (_, i) => job('spread', i));
    await producer.fanOut(jobs);
    await producer.fanOut(jobs.slice(0, 10));
    const layout = shardLayout('scan-spread', 3);
    const perShard = await Promise.all(layout.names.map((n) => client.llen(`${prefix}:{${n}}:wait`)));
    expect(perShard.reduce((a, b) => a + b, 0)).toBe(60);
    for (const c of perShard) expect(c).toBeGreaterThan(5);
    for (const j of jobs) {
      const shard = layout.names[shardOfSession(layout, j.sessionId)]!;
      expect(await client.exists(`${prefix}:{${shard}}:${j.reqId}-spread`), j.sessionId).toBe(1);
    }
    expect(await producer.depth('spread')).toBe(60);
    await producer.close();
  });

  it('a shard whose consumer hangs does not starve the others: every job of the other shards completes', async () => {
    const shards = 3;
    const layout = shardLayout('scan-stall', shards);
    const producer = new ScanProducer(client, { prefix, shards: { stall: shards } });
    const jobs = Array.from({ length: 90 }, (_, i) => job('stall', i));
    const stalledShard = shardOfSession(layout, jobs[0]!.sessionId);
    const done = new Set<string>();
    const hung: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // Concurrency 6 over 3 shards: 2 per shard. The stalled shard's consumer holds both of its slots for ever.
    const handle: ScanWorkerHandle = createScanWorker(
      'stall',
      worker,
      async (j, meta) => {
        if (meta.shard === stalledShard) {
          hung.push(j.reqId);
          await gate;
        }
        done.add(j.reqId);
      },
      { prefix, concurrency: 6, shards },
    );
    handle.run();
    await producer.fanOut(jobs);
    const others = jobs.filter((j) => shardOfSession(layout, j.sessionId) !== stalledShard);
    expect(others.length).toBeGreaterThan(30);
    await waitUntil(() => others.every((j) => done.has(j.reqId)), 20_000, 'every job of the other shards');
    // The stalled shard took exactly its share of the concurrency and nothing more came out of it.
    expect(hung).toHaveLength(2);
    const stalledName = layout.names[stalledShard]!;
    expect(await client.llen(`${prefix}:{${stalledName}}:wait`)).toBe(jobs.length - others.length - 2);
    expect(await producer.depth('stall')).toBe(jobs.length - others.length - 2);
    // Released, the stalled shard drains too.
    release();
    await waitUntil(() => done.size === jobs.length, 20_000, 'every job');
    await handle.close(5000);
    await producer.close();
  });
});
