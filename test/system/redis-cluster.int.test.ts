/**
 * Issue 8 (3): hookgate on a real 3-master Redis Cluster started by the test. The suite's core flows run through
 * the built executable (two ingress and two worker processes, clamd, the built-in DLP); the cluster itself shows
 * that keys spread over the masters, each scanner queue is split into three shards on three masters (issue 13),
 * results reach the ingress by sharded Pub/Sub on the one master owning its channel, and no multi-key command
 * spans slots.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, type RedisCluster } from '../support/redis-topologies.js';
import { bullQueueNames } from '@hookgate/queue';
import {
  flowAdminRecord,
  flowGreylist,
  flowRateLimit,
  flowResultCache,
  flowTransactions,
  startCoreStack,
  type CoreStack,
  type HookAnswer,
} from '../support/core-flows.js';

let cluster: RedisCluster;
let stack: CoreStack;
const prefix = `hgc${process.pid}`;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
  // Ingress processes get the seeds from HOOKGATE_REDIS_CLUSTER, workers from `redis.cluster` in their config file;
  // one seed is enough for the workers: the client discovers the rest.
  stack = await startCoreStack(
    { env: { HOOKGATE_REDIS_CLUSTER: cluster.seeds }, yaml: `cluster: ['${cluster.seeds.split(',')[0]}']` },
    prefix,
    { queueShards: 3 },
  );
});
afterAll(async () => {
  await stack?.stop();
  await cluster?.stop();
});

describe('Redis Cluster (3 masters): core flows through the built executable', () => {
  let transactions: HookAnswer[][] = [];

  it('starts against the cluster', () => {
    expect(stack.ingresses[0]!.stderr()).toMatch(
      new RegExp(`redis: cluster ${cluster.seeds.replaceAll('.', '\\.')}`),
    );
    expect(stack.workers[0]!.stderr()).toMatch(/redis: cluster 127\.0\.0\.1:\d+\n/);
  });

  it('full 5-stage transactions: EICAR rejected, clean accepted, results from worker processes reach the ingress', async () => {
    transactions = await flowTransactions(stack, 12, 31000);
  });

  it('the admin API returns a verdict record from either ingress', async () => {
    await flowAdminRecord(stack, transactions[1]!);
  });

  it('greylisting and rate limits hold across both ingress processes', async () => {
    await flowGreylist(stack, 32000);
    await flowRateLimit(stack, '192.0.2.99', 33000);
  });

  it('the result cache answers a repeated message', async () => {
    await flowResultCache(stack, 34000);
  });

  it('session keys spread over the masters, each queue shard stays in one slot, the three shards on three masters', async () => {
    const masters = await cluster.masters();
    expect(masters).toHaveLength(3);
    const sessions = await cluster.keysByNode(`${prefix}:{*}:s`);
    const holding = [...sessions.entries()].filter(([, keys]) => keys.length > 0);
    // 12 + 3 sessions hash to more than one master (session ids are deterministic, so this placement is too).
    expect(holding.length).toBeGreaterThan(1);
    // Every key of one session sits on the node that holds its session hash.
    const all = await cluster.keysByNode(`${prefix}:{*}:*`);
    for (const [port, keys] of all) {
      const tags = new Set(keys.map((k) => /\{([^}]+)\}/.exec(k)![1]));
      for (const [otherPort, otherKeys] of all) {
        if (otherPort === port) continue;
        expect(otherKeys.filter((k) => tags.has(/\{([^}]+)\}/.exec(k)![1]!))).toEqual([]);
      }
    }
    // A BullMQ queue shard's keys (`<prefix>:{scan-<scanner>[.<k>]}:*`) are all on one node; with 3 shards on
    // 3 masters (equal slot ranges), each master holds one shard of each scanner's queue.
    for (const scanner of ['clamav', 'dlp']) {
      const holders = new Set<number>();
      for (const name of bullQueueNames(scanner, 3)) {
        const byNode = await cluster.keysByNode(`${prefix}:${name}:*`);
        const on = [...byNode.entries()].filter(([, k]) => k.length > 0).map(([port]) => port);
        expect(on, name).toHaveLength(1);
        holders.add(on[0]!);
      }
      expect(holders.size, scanner).toBe(3);
    }
  });

  it('results came by sharded Pub/Sub: each ingress channel lives on one master, sessions on others still answered', async () => {
    const sharded = await cluster.shardChannelsByNode(`${prefix}:reply:*`);
    expect([...sharded.values()].flat()).toHaveLength(2);
    const subscribedOn = [...sharded.entries()].filter(([, ch]) => ch.length > 0).map(([port]) => port);
    const sessions = await cluster.keysByNode(`${prefix}:{*}:s`);
    // Sessions on a master where no ingress channel lives got their results published to the channel's master.
    // (Two channels sit on at most two of the three masters; session ids are deterministic and cover all three.)
    const elsewhere = [...sessions.entries()].filter(
      ([port, keys]) => keys.length > 0 && !subscribedOn.includes(port),
    );
    expect(elsewhere.length).toBeGreaterThan(0);
    // Every notice went by SPUBLISH; classic PUBLISH carried only pool join/leave events (a handful).
    const stats = await cluster.commandStats();
    expect(stats.spublish ?? 0).toBeGreaterThanOrEqual(12);
    expect(stats.publish ?? 0).toBeLessThan(10);
  });

  it('no command failed with CROSSSLOT on any node or in any process', async () => {
    const errors = await cluster.errorStats();
    expect(errors.CROSSSLOT ?? 0).toBe(0);
    expect(stack.output()).not.toMatch(/CROSSSLOT/);
  });

  it('every process stops with exit code 0', async () => {
    expect(await stack.stop()).toEqual([0, 0, 0, 0]);
  });
});
