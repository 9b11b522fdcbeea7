/**
 * Issue 8 (3): hookgate on a real 3-master Redis Cluster started by the test. The suite's core flows run through
 * the built executable (two ingress and two worker processes, clamd, the built-in DLP); the cluster itself shows
 * that keys spread over the masters, results cross nodes over Pub/Sub, and no multi-key command spans slots.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, type RedisCluster } from '../support/redis-topologies.js';
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
  stack = await startCoreStack({ env: { HOOKGATE_REDIS_CLUSTER: cluster.seeds }, yaml: `cluster: ['${cluster.seeds.split(',')[0]}']` }, prefix);
});
afterAll(async () => {
  await stack?.stop();
  await cluster?.stop();
});

describe('Redis Cluster (3 masters): core flows through the built executable', () => {
  let transactions: HookAnswer[][] = [];

  it('starts against the cluster', () => {
    expect(stack.ingresses[0]!.stderr()).toMatch(new RegExp(`redis: cluster ${cluster.seeds.replaceAll('.', '\\.')}`));
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

  it('session keys spread over the masters, each queue stays in one slot', async () => {
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
    // A BullMQ queue's keys (`<prefix>:{scan-<scanner>}:*`) are all on one node.
    for (const scanner of ['clamav', 'dlp']) {
      const byNode = await cluster.keysByNode(`${prefix}:{scan-${scanner}}:*`);
      expect([...byNode.values()].filter((k) => k.length > 0)).toHaveLength(1);
    }
  });

  it('results crossed the cluster bus: each ingress subscribes on one node, sessions live on others', async () => {
    const channels = await cluster.channelsByNode(`${prefix}:reply:*`);
    const subscribedOn = [...channels.entries()].filter(([, ch]) => ch.length > 0).map(([port]) => port);
    expect([...channels.values()].flat()).toHaveLength(2);
    const sessions = await cluster.keysByNode(`${prefix}:{*}:s`);
    // Sessions on a node where no ingress subscribed got their results published there and delivered elsewhere.
    // (Two subscriptions sit on at most two of the three masters; session ids are deterministic and cover all three.)
    const elsewhere = [...sessions.entries()].filter(([port, keys]) => keys.length > 0 && !subscribedOn.includes(port));
    expect(elsewhere.length).toBeGreaterThan(0);
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
