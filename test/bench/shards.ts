/**
 * Issue 13 rows (`BENCH_ONLY=shards`): what one scanner queue costs Redis, and how a pool spreads over Cluster
 * masters. Redis CPU comes from `INFO cpu` (main thread, user + system) of every node, so "per job" and "per
 * transaction" are Redis's own cost, whatever limits the clients on this 2-core machine.
 *
 * - queue rows: BullMQ alone (no hookgate pipeline): one producer (this process) and two worker processes with a
 *   no-op processor, on one Redis with 1 shard, on one Redis with 3 shards, and on a 3-master Cluster with 3 shards.
 * - fan-out rows: `hookgate all` with the no-op scanner at data (and with DLP as a second queued scanner), full
 *   5-stage transactions, on one Redis (1 shard) and on the 3-master Cluster (1 and 3 shards): Redis CPU per
 *   transaction on the busiest master, and what that master's core would sustain.
 * "projected per s" = 1 s ÷ the busiest node's CPU per unit: the rate at which the busiest node reaches one full
 * core, for the whole deployment measured (all nodes together). Idle CPU per node is measured first and left out.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Agent } from 'node:http';
import { randomBytes } from 'node:crypto';
import { ScanProducer, createScanWorker } from '@hookgate/queue';
import { createRedisClient, connectRedis, closeRedis, type RedisTarget } from '@hookgate/redis';
import { startRedis, freePort } from '../support/daemons.js';
import { startRedisCluster } from '../support/redis-topologies.js';
import { startHookgate, writeConfig } from '../support/processes.js';
import { transaction } from '../support/stalwart.js';
import { clean20k } from '../support/samples.js';
import { closedLoop, cpuMs, redisCommand } from './measure.js';
import { postJson } from '../support/http.js';

const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

export interface ShardRow {
  name: string;
  /** Jobs (queue rows) or transactions (fan-out rows) completed per second, measured. */
  perSec: number;
  /** Redis main-thread CPU per job or transaction: busiest node, and all nodes together, µs. */
  busiestUs: number;
  totalUs: number;
  /** Share of the Redis CPU on the busiest node (1 for one Redis). */
  busiestShare: number;
  /** Redis CPU in use while measured, cores (all nodes), and the part of it an idle deployment uses anyway. */
  redisCores: number;
  idleCores: number;
  /** 1 s ÷ busiest-node CPU per unit: what one Redis core (the busiest master) sustains. */
  projectedPerSecPerCore: number;
  nodes: number;
  note?: string;
}

/** Main-thread CPU seconds of a Redis node (user + system). */
async function redisCpuS(port: number): Promise<number> {
  const t = await redisCommand(port, 'INFO', 'cpu');
  const f = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(t)?.[1] ?? NaN);
  const main = f('used_cpu_user_main_thread') + f('used_cpu_sys_main_thread');
  return Number.isFinite(main) ? main : f('used_cpu_user') + f('used_cpu_sys');
}

const cpuAll = (ports: number[]) => Promise.all(ports.map(redisCpuS));

/**
 * Redis CPU per second of each node with the clients connected and no load (cluster gossip, cron, blocked
 * workers' timeouts): a fixed cost per node, not per job, subtracted from the figures per job and transaction.
 */
async function idleRate(ports: number[], ms = 1500): Promise<number[]> {
  const a = await cpuAll(ports);
  await new Promise((r) => setTimeout(r, ms));
  const b = await cpuAll(ports);
  return b.map((x, i) => (x - a[i]!) / (ms / 1000));
}

function rowFrom(
  name: string,
  units: number,
  elapsedMs: number,
  before: number[],
  after: number[],
  idle: number[],
  note?: string,
): ShardRow {
  const secs = elapsedMs / 1000;
  const used = after.map((a, i) => Math.max(0, a - before[i]! - idle[i]! * secs));
  const total = used.reduce((a, b) => a + b, 0);
  const busiest = Math.max(...used);
  const per = (s: number) => (s * 1e6) / Math.max(1, units);
  return {
    name,
    perSec: round(units / (elapsedMs / 1000), 1),
    busiestUs: round(per(busiest), 1),
    totalUs: round(per(total), 1),
    busiestShare: round(busiest / Math.max(total, 1e-9), 3),
    redisCores: round(after.reduce((a, x, i) => a + x - before[i]!, 0) / secs, 3),
    idleCores: round(
      idle.reduce((a, b) => a + b, 0),
      3,
    ),
    projectedPerSecPerCore: Math.round(1e6 / Math.max(per(busiest), 1e-9)),
    nodes: before.length,
    ...(note ? { note } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Queue rows: BullMQ alone

interface WorkerArgs {
  target: RedisTarget;
  prefix: string;
  shards: number;
  concurrency: number;
}

/** Child process body: a no-op worker pool on the bench queue, reporting its completed count on request. */
async function workerChild(args: WorkerArgs): Promise<void> {
  const client = createRedisClient(args.target, { role: 'worker' });
  await connectRedis(client);
  let done = 0;
  const w = createScanWorker('bench', client, async () => void done++, {
    prefix: args.prefix,
    concurrency: args.concurrency,
    shards: args.shards,
  });
  w.run();
  process.on('message', (m: string) => {
    if (m === 'count') process.send!({ done });
    if (m === 'stop')
      void w
        .close(2000)
        .then(() => closeRedis(client))
        .then(() => process.exit(0));
  });
  process.send!({ ready: true });
}

function ask(child: ChildProcess, msg: string): Promise<{ done: number }> {
  return new Promise((resolve) => {
    const on = (m: { done?: number }) => {
      if (m.done === undefined) return;
      child.off('message', on);
      resolve({ done: m.done });
    };
    child.on('message', on);
    child.send(msg);
  });
}

async function queueRow(
  name: string,
  target: RedisTarget,
  ports: number[],
  shards: number,
  o: { warmupMs: number; durationMs: number },
): Promise<ShardRow> {
  const prefix = `qb${randomBytes(3).toString('hex')}`;
  const self = fileURLToPath(import.meta.url);
  const workers = await Promise.all(
    [0, 1].map(
      () =>
        new Promise<ChildProcess>((resolve, reject) => {
          const c = fork(
            self,
            [
              'queue-worker',
              JSON.stringify({ target, prefix, shards, concurrency: 64 } satisfies WorkerArgs),
            ],
            { stdio: 'inherit' },
          );
          c.once('message', () => resolve(c));
          c.once('error', reject);
        }),
    ),
  );
  const client = createRedisClient(target, { role: 'command', commandTimeoutMs: 5000 });
  await connectRedis(client);
  const producer = new ScanProducer(client, { prefix, shards: { bench: shards } });
  let cpu0: number[] = [];
  let done0 = 0;
  const idle = await idleRate(ports);
  const count = async () =>
    (await Promise.all(workers.map((w) => ask(w, 'count')))).reduce((a, b) => a + b.done, 0);
  try {
    const res = await closedLoop(
      24,
      o.warmupMs,
      o.durationMs,
      async (i) => {
        const sid = `bench-${i}-${randomBytes(4).toString('hex')}`;
        await producer.fanOut([
          {
            v: 1,
            sessionId: sid,
            txnId: `${sid}.1`,
            reqId: `r${i}`,
            stage: 'data',
            scanner: 'bench',
            deadlineAt: Date.now() + 60_000,
            replyTo: '',
          },
        ]);
        return {};
      },
      async () => {
        [cpu0, done0] = await Promise.all([cpuAll(ports), count()]);
      },
    );
    const [cpu1, done1] = await Promise.all([cpuAll(ports), count()]);
    const completed = done1 - done0;
    // Each job is one add and one completion: CPU per job is over the jobs that went both ways.
    const note = `added ${res.count}, completed ${completed}`;
    return rowFrom(name, Math.min(res.count, completed) || completed, res.elapsedMs, cpu0, cpu1, idle, note);
  } finally {
    await producer.close();
    await closeRedis(client);
    await Promise.all(workers.map((w) => new Promise((r) => (w.once('exit', r), w.send('stop')))));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Fan-out rows: the whole pipeline, `hookgate all`

async function fanoutRow(
  name: string,
  redisEnv: Record<string, string>,
  ports: number[],
  shards: number,
  o: { warmupMs: number; durationMs: number; concurrency: number },
  withDlp = false,
): Promise<ShardRow & { hookgateCpuMsPerTxn: number }> {
  // The no-op scanner at data; `withDlp` adds the built-in DLP as a second queued scanner (two jobs per transaction,
  // as in the capacity model), whose engine costs the worker CPU but Redis no more than any job.
  const cfg = writeConfig(`redis: { prefix: fb${randomBytes(3).toString('hex')} }
log: { level: warn }
scanners:
  dlp: { enabled: ${withDlp}, stages: [data], queueShards: ${shards} }
  noop: { enabled: true, stages: [data], queueShards: ${shards} }
`);
  const p = await startHookgate(['all'], {
    HOOKGATE_CONFIG: cfg,
    HOOKGATE_LISTEN: `127.0.0.1:${await freePort()}`,
    ...redisEnv,
  });
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency * 2 });
  const url = new URL(`${p.url}/hooks/stalwart`);
  const post = postJson(url, agent);
  let cpu0: number[] = [];
  let hg0 = 0;
  const idle = await idleRate(ports);
  try {
    const res = await closedLoop(
      o.concurrency,
      o.warmupMs,
      o.durationMs,
      async (i) => {
        const bodies = transaction(
          { clientPort: 10_000 + (i % 50_000), clientIp: `198.51.${(i >> 8) & 255}.${i & 255}` },
          clean20k({ messageId: `fan-${i}` }),
        );
        for (const body of bodies) {
          const r = await post(JSON.stringify(body));
          // A real verdict only: an answer decided by the deadline would hide a lost notice.
          if (r.status !== 200 || !/"accept"/.test(r.text))
            throw new Error(`unexpected answer ${r.status} ${r.text.slice(0, 200)}`);
        }
        return {};
      },
      async () => {
        cpu0 = await cpuAll(ports);
        hg0 = cpuMs(p.child.pid!);
      },
    );
    const cpu1 = await cpuAll(ports);
    const hg = cpuMs(p.child.pid!) - hg0;
    return {
      ...rowFrom(name, res.count, res.elapsedMs, cpu0, cpu1, idle, `errors ${res.errors}`),
      hookgateCpuMsPerTxn: round(hg / Math.max(1, res.count)),
    };
  } finally {
    agent.destroy();
    await p.stop('SIGTERM');
  }
}

export interface ShardsResult {
  queue: ShardRow[];
  fanout: (ShardRow & { hookgateCpuMsPerTxn: number })[];
  ratios: Record<string, number>;
}

export async function shardsBench(o: {
  warmupMs: number;
  durationMs: number;
  concurrency: number;
}): Promise<ShardsResult> {
  const redis = await startRedis(['--maxmemory-policy', 'noeviction']);
  const cluster = await startRedisCluster({ masters: 3 }).catch(async (err: unknown) => {
    await redis.stop();
    throw err;
  });
  const single: RedisTarget = { mode: 'standalone', url: redis.url };
  const clustered: RedisTarget = {
    mode: 'cluster',
    nodes: cluster.nodes.map((n) => ({ host: n.host, port: n.port })),
  };
  const masterPorts = cluster.nodes.map((n) => n.port);
  try {
    const queue = [
      await queueRow('queue: 1 Redis, 1 shard', single, [redis.port], 1, o),
      await queueRow('queue: 1 Redis, 3 shards', single, [redis.port], 3, o),
      await queueRow('queue: Cluster 3 masters, 1 shard', clustered, masterPorts, 1, o),
      await queueRow('queue: Cluster 3 masters, 3 shards', clustered, masterPorts, 3, o),
    ];
    const fanout = [
      await fanoutRow('fan-out: 1 Redis, 1 shard', { HOOKGATE_REDIS_URL: redis.url }, [redis.port], 1, o),
      await fanoutRow(
        'fan-out: Cluster 3 masters, 1 shard',
        { HOOKGATE_REDIS_CLUSTER: cluster.seeds },
        masterPorts,
        1,
        o,
      ),
      await fanoutRow(
        'fan-out: Cluster 3 masters, 3 shards',
        { HOOKGATE_REDIS_CLUSTER: cluster.seeds },
        masterPorts,
        3,
        o,
      ),
      await fanoutRow(
        'fan-out 2 scanners: 1 Redis, 1 shard',
        { HOOKGATE_REDIS_URL: redis.url },
        [redis.port],
        1,
        o,
        true,
      ),
      await fanoutRow(
        'fan-out 2 scanners: Cluster 3 masters, 3 shards',
        { HOOKGATE_REDIS_CLUSTER: cluster.seeds },
        masterPorts,
        3,
        o,
        true,
      ),
    ];
    const [q1, q3, qc1, qc] = [queue[0]!, queue[1]!, queue[2]!, queue[3]!];
    const [f1, fc1, fc, f2, fc2] = [fanout[0]!, fanout[1]!, fanout[2]!, fanout[3]!, fanout[4]!];
    const ratios = {
      'queue CPU/job, 3 shards ÷ 1 shard (one Redis)': round(q3.totalUs / q1.totalUs, 3),
      'queue CPU/job on the busiest master, Cluster ÷ one Redis': round(qc.busiestUs / q1.busiestUs, 3),
      'queue jobs/s per busiest core, Cluster ÷ one Redis': round(
        qc.projectedPerSecPerCore / q1.projectedPerSecPerCore,
        3,
      ),
      'queue jobs/s per busiest core, Cluster 3 shards ÷ Cluster 1 shard': round(
        qc.projectedPerSecPerCore / qc1.projectedPerSecPerCore,
        3,
      ),
      'fan-out txn/s per busiest core, Cluster 3 shards ÷ Cluster 1 shard': round(
        fc.projectedPerSecPerCore / fc1.projectedPerSecPerCore,
        3,
      ),
      'fan-out CPU/txn, Cluster all masters ÷ one Redis': round(fc.totalUs / f1.totalUs, 3),
      'fan-out CPU/txn, Cluster busiest master ÷ one Redis': round(fc.busiestUs / f1.busiestUs, 3),
      'fan-out txn/s per busiest core, Cluster ÷ one Redis': round(
        fc.projectedPerSecPerCore / f1.projectedPerSecPerCore,
        3,
      ),
      'fan-out 2 scanners txn/s per busiest core, Cluster ÷ one Redis': round(
        fc2.projectedPerSecPerCore / f2.projectedPerSecPerCore,
        3,
      ),
    };
    return { queue, fanout, ratios };
  } finally {
    await cluster.stop();
    await redis.stop();
  }
}

export function printShards(r: ShardsResult): void {
  const head = [
    'row',
    'per s',
    'redis µs busiest/all',
    'busiest share',
    'redis cores (idle)',
    'projected per s per core',
    'hookgate cpu ms/txn',
    'note',
  ];
  const lines = [...r.queue, ...r.fanout].map((x) => [
    x.name,
    String(x.perSec),
    `${x.busiestUs}/${x.totalUs}`,
    String(x.busiestShare),
    `${x.redisCores} (${x.idleCores})`,
    String(x.projectedPerSecPerCore),
    'hookgateCpuMsPerTxn' in x ? String((x as { hookgateCpuMsPerTxn: number }).hookgateCpuMsPerTxn) : '-',
    x.note ?? '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(fmt(head));
  for (const l of lines) console.log(fmt(l));
  console.log(`shard ratios (same run): ${JSON.stringify(r.ratios)}`);
}

if (process.argv[2] === 'queue-worker') void workerChild(JSON.parse(process.argv[3]!) as WorkerArgs);
