/**
 * Issue 8 (3): hookgate on Redis Sentinel (a master, a replica, three sentinels) started by the test. The suite's
 * core flows run through the built executable, then a forced failover (`SENTINEL FAILOVER`) happens while
 * transactions keep coming: every request is answered before its deadline, and the next transactions get real
 * verdicts from the new master.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startRedisSentinel,
  parseInfo,
  type RedisNode,
  type RedisSentinel,
} from '../support/redis-topologies.js';
import {
  DEADLINE_MS,
  flowAdminRecord,
  flowGreylist,
  flowRateLimit,
  flowResultCache,
  flowTransactions,
  adminRecord,
  isRealVerdict,
  loadAcrossFailover,
  startCoreStack,
  type CoreStack,
  type HookAnswer,
  type LoadPhase,
} from '../support/core-flows.js';
import { freePort } from '../support/daemons.js';
import { startHookgate, writeConfig } from '../support/processes.js';

let sentinel: RedisSentinel;
let stack: CoreStack;
const prefix = `hgs${process.pid}`;
/**
 * Answers may reach the client this much after their stage deadline (HTTP on loopback, 2 busy cores running every
 * test file in parallel); the MTA's own timeout (6 s in the core-flow config) is far above.
 */
const TRANSPORT_SLACK_MS = 1000;

/** Names of the client connections a Redis server has now. */
async function clientNames(node: RedisNode): Promise<string[]> {
  const list = String(await node.with((c) => c.client('LIST')));
  return list
    .split('\n')
    .map((l) => /\bname=(\S*)/.exec(l)?.[1] ?? '')
    .filter(Boolean);
}

beforeAll(async () => {
  sentinel = await startRedisSentinel({ replicas: 1, sentinels: 3 });
  const seeds = sentinel.seeds.split(',');
  stack = await startCoreStack(
    {
      env: { HOOKGATE_REDIS_SENTINELS: sentinel.seeds, HOOKGATE_REDIS_SENTINEL_NAME: sentinel.name },
      yaml: `sentinels: [${seeds.map((s) => `'${s}'`).join(', ')}], sentinelName: ${sentinel.name}`,
    },
    prefix,
  );
});
afterAll(async () => {
  await stack?.stop();
  await sentinel?.stop();
});

describe('Redis Sentinel: core flows through the built executable', () => {
  let transactions: HookAnswer[][] = [];

  it('starts against the sentinels', () => {
    for (const p of [...stack.ingresses, ...stack.workers])
      expect(p.stderr()).toMatch(new RegExp(`redis: sentinel ${sentinel.name} via 127\\.0\\.0\\.1:\\d+,`));
  });

  it('full 5-stage transactions: EICAR rejected, clean accepted, results from worker processes reach the ingress', async () => {
    transactions = await flowTransactions(stack, 9, 41000);
  });

  it('the admin API returns a verdict record from either ingress', async () => {
    await flowAdminRecord(stack, transactions[1]!);
  });

  it('greylisting and rate limits hold across both ingress processes', async () => {
    await flowGreylist(stack, 42000);
    await flowRateLimit(stack, '192.0.2.98', 43000);
  });

  it('the result cache answers a repeated message', async () => {
    await flowResultCache(stack, 44000);
  });

  it('SENTINEL FAILOVER under load: every request answered before its deadline, clients follow the new master, real verdicts again', async () => {
    const oldMaster = await sentinel.masterNode();
    const load = loadAcrossFailover(stack, {
      clientIp: '203.0.113.46',
      portBase: 45000,
      tag: 'failover',
      check: (t, virus) => {
        const data = t[4]!;
        // Never a wrong verdict: a virus is never accepted; clean mail is never rejected as a virus.
        expect(data.body.action === 'accept' && virus).toBe(false);
        expect(data.body.response?.status === 550 && !virus).toBe(false);
      },
    });
    const { answers, afterTxns } = load;
    await expect
      .poll(() => answers.filter((x) => x.stage === 'data' && isRealVerdict(x.a)).length, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(6);
    load.enter('failover');
    const t0 = Date.now();
    const newMaster = await sentinel.failover();
    const promotedMs = Date.now() - t0;
    const newNode = await sentinel.masterNode();
    expect(newNode.port).toBe(newMaster.port);
    expect(newNode.port).not.toBe(oldMaster.port);
    // Every hookgate connection (ingress store, producer, subscriber; worker store, BullMQ) moves to the new master.
    const roles = [
      'hookgate-ingress-store',
      'hookgate-ingress-queue',
      'hookgate-ingress-sub',
      'hookgate-worker-store',
      'hookgate-worker-queue',
    ];
    await expect
      .poll(
        async () => {
          const [on, off] = await Promise.all([clientNames(newNode), clientNames(oldMaster).catch(() => [])]);
          return roles.every((r) => on.includes(r)) && !off.some((x) => x.startsWith('hookgate-'));
        },
        { timeout: 20_000, interval: 50 },
      )
      .toBe(true);
    const movedMs = Date.now() - t0;
    const oldRoleWhenMoved = parseInfo(await oldMaster.with((c) => c.info('replication'))).role;
    // They moved on `+switch-master`, before Sentinel got round to demoting the old master (its next INFO, seconds
    // later): nothing was written to a master about to be resynced away.
    expect(oldRoleWhenMoved).toBe('master');
    load.enter('after');
    await expect
      .poll(() => afterTxns.filter((t) => isRealVerdict(t[4]!)).length, { timeout: 30_000 })
      .toBeGreaterThanOrEqual(9);
    await load.stop();

    // Every request got exactly one HTTP 200 answer, before its stage deadline.
    expect(answers.every((x) => x.a.status === 200)).toBe(true);
    const late = answers.filter(
      (x) => x.a.ms > DEADLINE_MS[x.stage as keyof typeof DEADLINE_MS] + TRANSPORT_SLACK_MS,
    );
    expect(late.map((x) => `${x.stage} ${Math.round(x.a.ms)} ms`)).toEqual([]);
    // Once the old master has rejoined as a replica (and resynced from the new one), what was written after the
    // switch is still there: every verdict record of those transactions is readable.
    await expect
      .poll(async () => parseInfo(await newNode.with((c) => c.info('replication'))).connected_slaves, {
        timeout: 30_000,
      })
      .toBe('1');
    for (const t of afterTxns.filter((x) => isRealVerdict(x[4]!))) {
      const rec = await adminRecord(stack.ingresses[0]!, t[4]!.txnId);
      expect(rec.status).toBe(200);
      expect(rec.body.stages.find((st) => st.stage === 'data')?.record).not.toBeNull();
    }
    const summary = (p: LoadPhase) => {
      const d = answers.filter((x) => x.phase === p && x.stage === 'data');
      const ms = answers.filter((x) => x.phase === p).map((x) => x.a.ms);
      return {
        data: d.length,
        real: d.filter((x) => isRealVerdict(x.a)).length,
        tempfail: d.filter((x) => x.a.body.response?.status === 451).length,
        maxMs: Math.round(Math.max(0, ...ms)),
      };
    };
    console.info(
      `sentinel failover: ${JSON.stringify({ promotedMs, movedMs, oldRoleWhenMoved, before: summary('before'), failover: summary('failover'), after: summary('after') })}`,
    );
  });

  it('every process stops with exit code 0 after the failover', async () => {
    expect(await stack.stop()).toEqual([0, 0, 0, 0]);
  });

  it('a worker told to stop while its connections are reconnecting still exits 0 (bounded close)', async () => {
    // The master goes away (before Sentinel has promoted anyone, the clients can only retry): the worker's
    // connections sit in "reconnecting". BullMQ's Worker.close() then waits for ever for its blocking connection to
    // end (ioredis never emits 'end' for a client disconnected while reconnecting); hookgate bounds the wait.
    const worker = await startHookgate(['worker', '--scanners', 'dlp'], {
      HOOKGATE_CONFIG: writeConfig(
        `redis: { prefix: ${prefix} }\nstages: { deadlineMs: { connect: 1000, ehlo: 1000, auth: 1000, mail: 1000, rcpt: 1000, data: 2000, delivery: 2000, defer: 2000, dsn: 2000 } }\n`,
      ),
      HOOKGATE_REDIS_SENTINELS: sentinel.seeds,
      HOOKGATE_REDIS_SENTINEL_NAME: sentinel.name,
      HOOKGATE_METRICS_LISTEN: `127.0.0.1:${await freePort()}`,
    });
    try {
      await (await sentinel.masterNode()).stop();
      const t0 = Date.now();
      expect(await worker.stop('SIGTERM')).toBe(0);
      // Well before the hard deadline (longest stage deadline + 15 s = 17 s).
      expect(Date.now() - t0).toBeLessThan(15_000);
    } finally {
      await worker.stop('SIGKILL');
    }
  });
});
