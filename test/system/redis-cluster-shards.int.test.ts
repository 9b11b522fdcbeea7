/**
 * Issue 13 (4): a scanner pool's queue split over the masters of a real Redis Cluster (3 masters, one replica
 * each), through the built executable (two ingress and two worker processes, clamd, the built-in DLP, every queued
 * scanner with `queueShards: 3`). One pool's jobs are consumed on all three masters; then one master's process is
 * killed under load and its replica promoted: every request is answered before its deadline, a virus is never
 * accepted, and the fail-closed scanner (clamav) tempfails rather than accepts while its shard is away.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, type RedisCluster } from '../support/redis-topologies.js';
import {
  DEADLINE_MS,
  fullTransaction,
  isRealVerdict,
  loadAcrossFailover,
  startCoreStack,
  type CoreStack,
  type HookAnswer,
  type LoadPhase,
} from '../support/core-flows.js';
import { clean, eicarInline } from '../support/samples.js';
import { bullQueueNames } from '@hookgate/queue';

let cluster: RedisCluster;
let stack: CoreStack;
const prefix = `hgs${process.pid}`;
const SHARDS = 3;
const TRANSPORT_SLACK_MS = 1000;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  stack = await startCoreStack(
    { env: { HOOKGATE_REDIS_CLUSTER: cluster.seeds }, yaml: `cluster: ['${cluster.seeds.split(',')[0]}']` },
    prefix,
    { queueShards: SHARDS },
  );
});
afterAll(async () => {
  await stack?.stop();
  await cluster?.stop();
});

/** Per master: how many jobs each shard has taken (BullMQ's `<queue>:id` counter), for one scanner. */
async function jobsPerMaster(scanner: string): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const name of bullQueueNames(scanner, SHARDS)) {
    const byNode = await cluster.keysByNode(`${prefix}:${name}:id`);
    for (const [port, keys] of byNode) {
      if (keys.length === 0) continue;
      const node = cluster.nodes.find((n) => n.port === port)!;
      out.set(port, (out.get(port) ?? 0) + Number(await node.with((c) => c.get(keys[0]!))));
    }
  }
  return out;
}

const delta = (
  after: Map<number, Record<string, number>>,
  before: Map<number, Record<string, number>>,
  cmd: string,
) => new Map([...after.entries()].map(([port, s]) => [port, (s[cmd] ?? 0) - (before.get(port)?.[cmd] ?? 0)]));

describe('Redis Cluster (3 masters + replicas), queues in 3 shards: one pool over every master', () => {
  it("one pool's jobs are spread over all three masters, every request answered correctly", async () => {
    const masters = await cluster.masters();
    expect(masters).toHaveLength(3);
    const before = await cluster.commandStatsByMaster();
    const answers: HookAnswer[][] = [];
    // Three clients, 8 transactions each, one in three with EICAR.
    await Promise.all(
      [0, 1, 2].map(async (c) => {
        for (let i = 0; i < 8; i++) {
          const virus = i % 3 === 0;
          const sample = virus
            ? eicarInline({ messageId: `sv${c}-${i}` })
            : clean({ subject: `shards ${c} ${i}`, messageId: `sc${c}-${i}` });
          const t = await fullTransaction(
            stack.ingresses,
            { clientIp: '203.0.113.47', clientPort: 36000 + c * 100 + i },
            sample,
          );
          for (const a of t.slice(0, 4)) expect(a.body).toEqual({ action: 'accept' });
          const data = t[4]!;
          expect(isRealVerdict(data), data.reason).toBe(true);
          expect(data.body.action).toBe(virus ? 'reject' : 'accept');
          answers.push(t);
        }
      }),
    );
    expect(answers).toHaveLength(24);
    const after = await cluster.commandStatsByMaster();

    for (const scanner of ['clamav', 'dlp']) {
      const perMaster = await jobsPerMaster(scanner);
      // Each master holds one shard and took a share of the 24 jobs.
      expect([...perMaster.keys()].sort(), scanner).toEqual(masters.map((m) => m.port).sort());
      expect(
        [...perMaster.values()].reduce((a, b) => a + b, 0),
        scanner,
      ).toBe(24);
      for (const [port, n] of perMaster) expect(n, `${scanner} jobs on ${port}`).toBeGreaterThan(0);
    }
    // BullMQ's workers wait on every master (BZPOPMIN on each shard's marker), and its scripts run on every master.
    const waits = delta(after, before, 'bzpopmin');
    const scripts = delta(after, before, 'evalsha');
    for (const m of masters) {
      expect(waits.get(m.port), `bzpopmin on ${m.port}`).toBeGreaterThan(0);
      expect(scripts.get(m.port), `evalsha on ${m.port}`).toBeGreaterThan(0);
    }
    // Result notices: sharded, one SPUBLISH per result, on the masters owning the two ingress channels only.
    const spublish = delta(after, before, 'spublish');
    const total = [...spublish.values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(48);
    const channels = await cluster.shardChannelsByNode(`${prefix}:reply:*`);
    for (const [port, n] of spublish)
      if (n > 0)
        expect(channels.get(port)?.length, `SPUBLISH on ${port} without a subscriber`).toBeGreaterThan(0);
    expect([...delta(after, before, 'publish').values()].reduce((a, b) => a + b, 0)).toBe(0);
    console.info(
      `cluster shards: ${JSON.stringify({ clamav: Object.fromEntries(await jobsPerMaster('clamav')), evalsha: Object.fromEntries(scripts), bzpopmin: Object.fromEntries(waits), spublish: Object.fromEntries(spublish) })}`,
    );
  });

  it('a master killed under load, its replica promoted: every request answered before its deadline, no virus accepted, clamav tempfails rather than accepts', async () => {
    // Kill the master that carried the result notices (data stages go to the first ingress; its channel's master):
    // notices, sessions and one shard of each queue go away with it.
    const spublish = [...(await cluster.commandStatsByMaster()).entries()].map(
      ([port, s]) => [port, s.spublish ?? 0] as const,
    );
    const victim = spublish.reduce((a, b) => (b[1] > a[1] ? b : a))[0];
    expect((await cluster.shardChannelsByNode(`${prefix}:reply:*`)).get(victim)?.length).toBeGreaterThan(0);
    const load = loadAcrossFailover(stack, { clientIp: '203.0.113.48', portBase: 40000, tag: 'kill' });
    const { answers, afterTxns } = load;
    await expect
      .poll(() => answers.filter((x) => x.stage === 'data' && isRealVerdict(x.a)).length, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(6);
    load.enter('failover');
    const t0 = Date.now();
    const promoted = await cluster.killMaster(victim);
    const promotedMs = Date.now() - t0;
    expect(promoted).not.toBe(victim);
    load.enter('after');
    // After the promotion, real verdicts again, and quickly: notices flow again (the sharded subscription moved to
    // the promoted master), not only the re-read at the deadline.
    await expect
      .poll(() => afterTxns.filter((t) => isRealVerdict(t[4]!) && t[4]!.ms < DEADLINE_MS.data / 2).length, {
        timeout: 60_000,
      })
      .toBeGreaterThanOrEqual(9);
    await load.stop();

    // Every request got an HTTP 200 answer before its stage deadline.
    expect(answers.every((x) => x.a.status === 200)).toBe(true);
    const late = answers.filter(
      (x) => x.a.ms > DEADLINE_MS[x.stage as keyof typeof DEADLINE_MS] + TRANSPORT_SLACK_MS,
    );
    expect(late.map((x) => `${x.stage} ${Math.round(x.a.ms)} ms`)).toEqual([]);
    const data = answers.filter((x) => x.stage === 'data');
    // Never a wrong verdict: a virus is never accepted, clean mail never rejected as a virus.
    expect(data.filter((x) => x.virus && x.a.body.action === 'accept')).toEqual([]);
    expect(data.filter((x) => !x.virus && x.a.body.response?.status === 550)).toEqual([]);
    // Fail-closed: every data answer is either a real verdict or a tempfail; none accepted without clamav's result.
    const unreal = data.filter((x) => !isRealVerdict(x.a));
    expect(
      unreal.filter((x) => x.a.body.response?.status !== 451).map((x) => `${x.a.body.action} ${x.a.reason}`),
    ).toEqual([]);
    const summary = (p: LoadPhase) => {
      const d = data.filter((x) => x.phase === p);
      const ms = answers.filter((x) => x.phase === p).map((x) => x.a.ms);
      return {
        data: d.length,
        real: d.filter((x) => isRealVerdict(x.a)).length,
        tempfail: d.filter((x) => x.a.body.response?.status === 451).length,
        maxMs: Math.round(Math.max(0, ...ms)),
      };
    };
    console.info(
      `cluster master killed: ${JSON.stringify({ victim, promoted, promotedMs, before: summary('before'), failover: summary('failover'), after: summary('after') })}`,
    );
  });

  it('every process stops with exit code 0 after the failover', async () => {
    expect(await stack.stop()).toEqual([0, 0, 0, 0]);
  });
});
