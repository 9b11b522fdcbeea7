/**
 * Issue 16 on a real Redis Cluster (3 masters): the quarantine's scripts and pipelines keep to its `{q}` slot, and
 * the verdict feed and queue-id index go out as separate commands beside the session's finalize script. No
 * CROSSSLOT error anywhere.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { StageRequest, VerdictRecord } from '@hookgate/contracts';
import { createRedisClient, connectRedis, closeRedis, type RedisClient } from '@hookgate/redis';
import { TransactionStore } from '@hookgate/state-store';
import { Quarantine, RedisQuarantineStore } from '@hookgate/quarantine';
import { startRedisCluster, type RedisCluster } from '../../../test/support/redis-topologies.js';

let cluster: RedisCluster;
let client: RedisClient;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
  client = createRedisClient(
    {
      mode: 'cluster',
      nodes: cluster.seeds.split(',').map((s) => ({ host: s.split(':')[0]!, port: Number(s.split(':')[1]) })),
    },
    { role: 'command', commandTimeoutMs: 5000 },
  );
  await connectRedis(client);
});
afterAll(async () => {
  await closeRedis(client);
  await cluster?.stop();
});

const request = (sessionId: string, reqId = randomBytes(6).toString('hex')): StageRequest => ({
  v: 1,
  protocol: 'milter',
  stage: 'data',
  sessionId,
  txnId: `${sessionId}.1`,
  reqId,
  client: { ip: '192.0.2.1' },
  queueId: `Q${reqId}`,
  from: { address: 'a@example.org' },
  to: [{ address: 'b@example.net' }],
  receivedAt: 1,
  deadlineAt: 2,
});
const record = (r: StageRequest): VerdictRecord => ({
  v: 1,
  reqId: r.reqId,
  txnId: r.txnId,
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
});

describe('quarantine and feed on Redis Cluster', () => {
  it('keeps, lists, shows, releases and deletes across many items without a cross-slot error', async () => {
    const sent: string[] = [];
    const q = new Quarantine({
      store: new RedisQuarantineStore(client, { prefix: 'qc', maxBytes: 1 << 20 }),
      retentionMs: 3_600_000,
      relay: {
        target: 'smtp://relay.test',
        deliver: async (env) => (
          sent.push(env.to.join()),
          { reply: '250 ok', accepted: env.to, refused: [] }
        ),
      },
    });
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = request(`s${i}`);
      ids.push(await q.keep(r, Buffer.from(`Subject: ${i}\r\n\r\nbody ${i}\r\n`), record(r)));
    }
    expect((await q.list({ limit: 500 })).items).toHaveLength(20);
    expect((await q.show(ids[3]!, 'ops', true)).message).toBeDefined();
    await q.release(ids[3]!, 'ops');
    await q.delete(ids[4]!, 'ops');
    expect(sent).toEqual(['b@example.net']);
    expect(await q.usage()).toMatchObject({ held: 18 });
    expect((await q.audit(5)).map((a) => a.what)).toEqual(['delete', 'release', 'view-body', 'keep', 'keep']);
    // Everything of the quarantine sits on one node.
    const nodes = [...(await cluster.keysByNode('qc:{q}:*')).entries()].filter(([, keys]) => keys.length > 0);
    expect(nodes).toHaveLength(1);
    expect((await cluster.errorStats()).CROSSSLOT ?? 0).toBe(0);
  });

  it('finalize writes the feed and the queue-id index beside the session script', async () => {
    const store = new TransactionStore(client, { prefix: 'fc', feedEntries: 100, indexQueueIds: true });
    for (let i = 0; i < 10; i++) {
      const r = request(`sess${i}`);
      await store.beginStage(r);
      await store.finalize(r.sessionId, record(r), { dropMessage: true, context: r });
      expect(await store.transactionOfQueueId(r.queueId!)).toBe(`${r.sessionId}.1`);
    }
    expect(await store.recentVerdicts({ count: 100 })).toHaveLength(10);
    expect((await cluster.errorStats()).CROSSSLOT ?? 0).toBe(0);
  });
});
