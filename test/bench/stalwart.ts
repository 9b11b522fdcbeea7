/**
 * `npm run bench`: full 5-stage Stalwart transactions (connect, ehlo, mail, rcpt, data with a ~20 KB message)
 * through `hookgate all` on a private Redis: once with the no-op scanner (hookgate's own cost), once with clamd,
 * and clamd called directly in the same run for the ratio. Prints throughput, p50/p99 per stage, CPU ms per
 * transaction of the hookgate process and Redis commands per transaction.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { startRedis, startClamd, freePort } from '../support/daemons.js';
import { startHookgate, writeConfig } from '../support/processes.js';
import { transaction } from '../support/stalwart.js';
import { clean20k, toEml } from '../support/samples.js';
import { ClamdClient } from '@hookgate/scanner-av';
import { parseEndpoint } from '@hookgate/scanner-sdk';
import { closedLoop, cpuMs, percentile, redisCounts, diffCounts } from './measure.js';

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 2000);
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 10_000);
const STAGES = ['connect', 'ehlo', 'mail', 'rcpt', 'data'] as const;

interface Row {
  name: string;
  txnPerSec: number;
  errors: number;
  stageMs: Record<string, { p50: number; p99: number }>;
  cpuMsPerTxn: number;
  /** Per transaction: Lua script calls (evalsha), and every command executed including those inside scripts. */
  redisPerTxn?: { scripts: number; executed: number; top: Record<string, number> };
}

const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

async function hookgateRow(name: string, redisUrl: string, redisPort: number, scannerYaml: string, env: Record<string, string>): Promise<Row> {
  const listen = `127.0.0.1:${await freePort()}`;
  const cfg = writeConfig(`redis: { prefix: bench${name} }\nlog: { level: warn }\nscanners:\n${scannerYaml}\n`);
  const p = await startHookgate(['all'], { HOOKGATE_CONFIG: cfg, HOOKGATE_REDIS_URL: redisUrl, HOOKGATE_LISTEN: listen, ...env });
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2 });
  const url = new URL(`${p.url}/hooks/stalwart`);
  const post = (body: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const sample = clean20k();
  let cpu0 = 0;
  let r0 = await redisCounts(redisPort);
  try {
    const res = await closedLoop(
      CONCURRENCY,
      WARMUP_MS,
      DURATION_MS,
      async (i) => {
        const bodies = transaction({ clientPort: 10_000 + (i % 50_000), clientIp: `198.51.${(i >> 8) & 255}.${i & 255}` }, sample);
        const lat: Record<string, number> = {};
        for (const [j, body] of bodies.entries()) {
          const t = performance.now();
          const r = await post(JSON.stringify(body));
          if (r.status !== 200 || !r.text.includes('"accept"')) throw new Error(`unexpected answer ${r.status} ${r.text.slice(0, 200)}`);
          lat[STAGES[j]!] = performance.now() - t;
        }
        return lat;
      },
      async () => {
        cpu0 = cpuMs(p.child.pid!);
        r0 = await redisCounts(redisPort);
      },
    );
    const cpu = cpuMs(p.child.pid!) - cpu0;
    const redis = diffCounts(r0, await redisCounts(redisPort));
    const top = Object.fromEntries(Object.entries(redis.perCommand).sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => [k, round(v / res.count)]));
    return {
      name,
      txnPerSec: round(res.count / (res.elapsedMs / 1000), 1),
      errors: res.errors,
      stageMs: Object.fromEntries(STAGES.map((s) => [s, { p50: round(percentile(res.latencies[s] ?? [], 50)), p99: round(percentile(res.latencies[s] ?? [], 99)) }])),
      cpuMsPerTxn: round(cpu / res.count),
      redisPerTxn: { scripts: round((redis.perCommand.evalsha ?? 0) / res.count, 1), executed: round(redis.executed / res.count, 1), top },
    };
  } finally {
    agent.destroy();
    await p.stop('SIGTERM');
  }
}

async function clamdDirectRow(endpoint: string): Promise<Row> {
  const client = new ClamdClient(parseEndpoint(endpoint));
  const bytes = Buffer.from(toEml(clean20k()));
  const res = await closedLoop(CONCURRENCY, WARMUP_MS, DURATION_MS, async () => {
    const t = performance.now();
    const r = await client.instream(bytes, AbortSignal.timeout(10_000));
    if (r.kind !== 'clean') throw new Error(`unexpected ${r.kind}`);
    return { data: performance.now() - t };
  });
  return {
    name: 'clamd-direct',
    txnPerSec: round(res.count / (res.elapsedMs / 1000), 1),
    errors: res.errors,
    stageMs: { data: { p50: round(percentile(res.latencies.data ?? [], 50)), p99: round(percentile(res.latencies.data ?? [], 99)) } },
    cpuMsPerTxn: NaN,
  };
}

function print(rows: Row[]): void {
  const head = ['scenario', 'txn/s', 'err', ...STAGES.map((s) => `${s} p50/p99 ms`), 'cpu ms/txn', 'redis cmds/txn (evalsha/all)'];
  const lines = rows.map((r) => [
    r.name,
    String(r.txnPerSec),
    String(r.errors),
    ...STAGES.map((s) => (r.stageMs[s] ? `${r.stageMs[s].p50}/${r.stageMs[s].p99}` : '-')),
    Number.isNaN(r.cpuMsPerTxn) ? '-' : String(r.cpuMsPerTxn),
    r.redisPerTxn ? `${r.redisPerTxn.scripts}/${r.redisPerTxn.executed}` : '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(fmt(head));
  for (const l of lines) console.log(fmt(l));
}

async function main(): Promise<void> {
  console.log(`bench: concurrency ${CONCURRENCY}, warm-up ${WARMUP_MS} ms, measured ${DURATION_MS} ms per row, message ${toEml(clean20k()).length} bytes`);
  const [redis, clamd] = await Promise.all([startRedis(['--maxmemory-policy', 'noeviction']), startClamd()]);
  const rows: Row[] = [];
  try {
    rows.push(await hookgateRow('noop', redis.url, redis.port, '  noop: { enabled: true, stages: [connect, ehlo, mail, rcpt, data] }', {}));
    rows.push(await hookgateRow('clamav', redis.url, redis.port, '  clamav: { stages: [data] }', { HOOKGATE_CLAMD: clamd.tcp }));
    rows.push(await clamdDirectRow(clamd.tcp));
  } finally {
    await Promise.all([redis.stop(), clamd.stop()]);
  }
  print(rows);
  const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
  const ratios = {
    clamavViaHookgateVsDirect: round(byName.clamav!.txnPerSec / byName['clamd-direct']!.txnPerSec, 3),
    clamavVsNoopThroughput: round(byName.clamav!.txnPerSec / byName.noop!.txnPerSec, 3),
  };
  console.log(`ratios: hookgate+clamd txn/s ÷ clamd-direct scans/s = ${ratios.clamavViaHookgateVsDirect}; clamav ÷ noop txn/s = ${ratios.clamavVsNoopThroughput}`);
  for (const r of rows) if (r.redisPerTxn) console.log(`redis per txn (${r.name}): ${JSON.stringify(r.redisPerTxn.top)}`);
  mkdirSync('test/bench/results', { recursive: true });
  writeFileSync('test/bench/results/latest.json', JSON.stringify({ at: new Date().toISOString(), concurrency: CONCURRENCY, durationMs: DURATION_MS, rows, ratios }, null, 2));
  console.log(`BENCH ${JSON.stringify({ rows: rows.map((r) => ({ name: r.name, txnPerSec: r.txnPerSec, cpuMsPerTxn: r.cpuMsPerTxn, redis: r.redisPerTxn?.executed })), ratios })}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
