/**
 * `npm run bench`: full 5-stage Stalwart transactions (connect, ehlo, mail, rcpt, data with a ~20 KB message)
 * through `hookgate all` on a private Redis, with each scanner in turn, next to the same engine called directly,
 * all in one run so the ratios compare like with like. Prints throughput, p50/p99 per stage, CPU ms per
 * transaction of the hookgate process, Redis commands per transaction, cache hit rate and tracing overhead; then
 * the milter peer rows (peers.ts: hookgate against clamav-milter and rspamd's proxy behind one Postfix).
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { Agent } from 'node:http';
import { startRedis, startClamd, freePort } from '../support/daemons.js';
import { startRspamd } from '../support/rspamd.js';
import { startSpamd } from '../support/spamd.js';
import { startOtlpSink } from '../support/otlp-sink.js';
import { startHookgate, writeConfig, type HookgateProcess } from '../support/processes.js';
import { transaction } from '../support/stalwart.js';
import { clean20k, toEml } from '../support/samples.js';
import { ClamdClient } from '@hookgate/scanner-av';
import { parseEndpoint } from '@hookgate/scanner-sdk';
import { checkRspamd, spamdCheck } from '@hookgate/scanner-spam';
import { DlpEngine, resolveDlpConfig } from '@hookgate/scanner-dlp';
import {
  closedLoop,
  commandsSent,
  cpuMs,
  percentile,
  redisCounts,
  redisCpuMs,
  diffCounts,
} from './measure.js';
import { postJson } from '../support/http.js';
import { draft01Bench } from './draft01.js';
import { milterBench } from './milter.js';
import { peersBench, peerOptionsFromEnv, printPeers, type PeerBenchResult } from './peers.js';
import { shardsBench, printShards, type ShardsResult } from './shards.js';

/** One Date header for the whole run: a repeated message must be byte-identical to hit the result cache. */
const RUN_DATE = new Date();

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 2000);
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 10_000);
/** spamd needs ~0.4 s of CPU per 20 KB message here: fewer, longer-running loops. */
const SPAMD_CONCURRENCY = Number(process.env.BENCH_SPAMD_CONCURRENCY ?? 2);
const STAGES = ['connect', 'ehlo', 'mail', 'rcpt', 'data'] as const;
/** Row prefixes to run (`noop`, `draft01`, `clamav`, `dlp`, `milter`, `rspamd`, `spamd`, `peers`, `shards`); BENCH_ROWS is an alias. */
const ONLY = (process.env.BENCH_ONLY ?? process.env.BENCH_ROWS)?.split(',');

export interface Row {
  name: string;
  /** Transactions (or direct engine calls) per second. */
  perSec: number;
  errors: number;
  stageMs: Record<string, { p50: number; p99: number }>;
  cpuMsPerTxn?: number;
  /** Per transaction: Lua script calls (evalsha), and every command executed including those inside scripts. */
  redisPerTxn?: { scripts: number; executed: number; top: Record<string, number> };
  /** Redis server CPU per transaction (INFO cpu), ms. */
  redisCpuMsPerTxn?: number;
  /** Redis round trips hookgate's processes made per transaction (client side: a pipeline counts once). */
  roundTripsPerTxn?: number;
  cacheHitRate?: number;
}

const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;
const lat = (xs: number[] | undefined) => ({
  p50: round(percentile(xs ?? [], 50)),
  p99: round(percentile(xs ?? [], 99)),
});

interface Scenario {
  name: string;
  scannersYaml: string;
  env?: Record<string, string>;
  /** Same message in every transaction (result cache hits) or a unique one (misses). */
  repeatMessage?: boolean;
  concurrency?: number;
  accept?: RegExp;
  /** Ingress and workers in separate processes, as deployed (default: `hookgate all`). */
  split?: string;
}

async function hookgateRow(s: Scenario, redisUrl: string, redisPort: number): Promise<Row> {
  const listen = `127.0.0.1:${await freePort()}`;
  const cfg = writeConfig(`redis: { prefix: bench${s.name.replace(/\W/g, '')} }
log: { level: warn }
policies: { default: { stamp: { verdict: true } } }
scanners:
${s.scannersYaml.includes('dlp:') ? '' : '  dlp: { enabled: false }\n'}${s.scannersYaml}
`);
  const env = { HOOKGATE_CONFIG: cfg, HOOKGATE_REDIS_URL: redisUrl, ...s.env };
  const procs: HookgateProcess[] = [];
  const metricsUrls: string[] = [];
  if (s.split) {
    const metrics = `127.0.0.1:${await freePort()}`;
    procs.push(
      await startHookgate(['worker', '--scanners', s.split], { ...env, HOOKGATE_METRICS_LISTEN: metrics }),
    );
    metricsUrls.push(`http://${metrics}/metrics`);
  }
  const p = await startHookgate([s.split ? 'ingress' : 'all'], { ...env, HOOKGATE_LISTEN: listen });
  procs.push(p);
  metricsUrls.push(`${p.url}/metrics`);
  const cpuAll = () => procs.reduce((sum, q) => sum + cpuMs(q.child.pid!), 0);
  let rc0 = 0;
  let cmd0 = 0;
  const concurrency = s.concurrency ?? CONCURRENCY;
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency * 2 });
  const url = new URL(`${p.url}/hooks/stalwart`);
  const post = postJson(url, agent);
  let cpu0 = 0;
  let r0 = await redisCounts(redisPort);
  let scanned = 0;
  let cached = 0;
  const accept = s.accept ?? /"accept"/;
  try {
    const res = await closedLoop(
      concurrency,
      WARMUP_MS,
      DURATION_MS,
      async (i) => {
        const sample = clean20k(
          s.repeatMessage ? { messageId: 'bench-repeat', date: RUN_DATE } : { messageId: `bench-${i}` },
        );
        const bodies = transaction(
          { clientPort: 10_000 + (i % 50_000), clientIp: `198.51.${(i >> 8) & 255}.${i & 255}` },
          sample,
        );
        const l: Record<string, number> = {};
        for (const [j, body] of bodies.entries()) {
          const t = performance.now();
          const r = await post(JSON.stringify(body));
          if (r.status !== 200 || !accept.test(r.text))
            throw new Error(`unexpected answer ${r.status} ${r.text.slice(0, 200)}`);
          l[STAGES[j]!] = performance.now() - t;
          if (STAGES[j] === 'data') {
            const verdict = /X-Hookgate-Verdict","value":"([^"]*)"/.exec(r.text)?.[1] ?? '';
            const n = (verdict.match(/=(pass|fail|unscanned)/g) ?? []).length;
            scanned += n;
            cached += (verdict.match(/\(cached\)/g) ?? []).length;
          }
        }
        return l;
      },
      async () => {
        cpu0 = cpuAll();
        r0 = await redisCounts(redisPort);
        rc0 = await redisCpuMs(redisPort);
        cmd0 = await commandsSent(metricsUrls);
        scanned = 0;
        cached = 0;
      },
    );
    const cpu = cpuAll() - cpu0;
    const redis = diffCounts(r0, await redisCounts(redisPort));
    const redisCpu = (await redisCpuMs(redisPort)) - rc0;
    const commands = (await commandsSent(metricsUrls)) - cmd0;
    const top = Object.fromEntries(
      Object.entries(redis.perCommand)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 8)
        .map(([k, v]) => [k, round(v / res.count)]),
    );
    return {
      name: s.name,
      perSec: round(res.count / (res.elapsedMs / 1000), 1),
      errors: res.errors,
      stageMs: Object.fromEntries(STAGES.map((st) => [st, lat(res.latencies[st])])),
      cpuMsPerTxn: round(cpu / Math.max(1, res.count)),
      redisPerTxn: {
        scripts: round((redis.perCommand.evalsha ?? 0) / Math.max(1, res.count), 1),
        executed: round(redis.executed / Math.max(1, res.count), 1),
        top,
      },
      redisCpuMsPerTxn: round(redisCpu / Math.max(1, res.count), 3),
      roundTripsPerTxn: round(commands / Math.max(1, res.count), 1),
      ...(scanned > 0 ? { cacheHitRate: round(cached / scanned, 3) } : {}),
    };
  } finally {
    agent.destroy();
    for (const q of procs.reverse()) await q.stop('SIGTERM');
  }
}

/** The same no-op pipeline driven by a draft-01 MTA (JSON or CBOR), for the row next to the legacy `noop`. */
async function draft01Row(
  name: string,
  serialization: 'json' | 'cbor',
  redisUrl: string,
  redisPort: number,
): Promise<Row> {
  const cfg = writeConfig(
    `redis: { prefix: bench${name.replace(/\W/g, '')} }\nlog: { level: warn }\nscanners:\n  dlp: { enabled: false }\n  noop: { enabled: true, stages: [connect, ehlo, mail, rcpt, data] }\n`,
  );
  const p = await startHookgate(['all'], {
    HOOKGATE_CONFIG: cfg,
    HOOKGATE_REDIS_URL: redisUrl,
    HOOKGATE_LISTEN: `127.0.0.1:${await freePort()}`,
  });
  try {
    const cpu0 = cpuMs(p.child.pid!);
    const r0 = await redisCounts(redisPort);
    const res = await draft01Bench({
      url: p.url!,
      durationMs: DURATION_MS,
      warmupMs: WARMUP_MS,
      concurrency: CONCURRENCY,
      body: Buffer.from(toEml(clean20k())),
      serialization,
    });
    // Warm-up included in CPU and Redis counts: scale by the measured share of the run.
    const share = DURATION_MS / (DURATION_MS + WARMUP_MS);
    const txns = Math.max(1, (res.txnPerSec * (DURATION_MS + WARMUP_MS)) / 1000);
    const redis = diffCounts(r0, await redisCounts(redisPort));
    return {
      name,
      perSec: res.txnPerSec,
      errors: res.errors ?? 0,
      stageMs: Object.fromEntries(
        STAGES.map((st) => [st, { p50: res.p50[st] ?? NaN, p99: res.p99[st] ?? NaN }]),
      ),
      cpuMsPerTxn: round(((cpuMs(p.child.pid!) - cpu0) * share) / (txns * share)),
      redisPerTxn: {
        scripts: round((redis.perCommand.evalsha ?? 0) / txns, 1),
        executed: round(redis.executed / txns, 1),
        top: {},
      },
    };
  } finally {
    await p.stop('SIGTERM');
  }
}

async function directRow(
  name: string,
  call: (bytes: Buffer) => Promise<void>,
  concurrency = CONCURRENCY,
): Promise<Row> {
  let i = 0;
  const res = await closedLoop(concurrency, WARMUP_MS, DURATION_MS, async () => {
    const bytes = Buffer.from(toEml(clean20k({ messageId: `direct-${i++}` })));
    const t = performance.now();
    await call(bytes);
    return { data: performance.now() - t };
  });
  return {
    name,
    perSec: round(res.count / (res.elapsedMs / 1000), 1),
    errors: res.errors,
    stageMs: { data: lat(res.latencies.data) },
  };
}

function print(rows: Row[]): void {
  const head = [
    'scenario',
    'per s',
    'err',
    ...STAGES.map((s) => `${s} p50/p99 ms`),
    'cpu ms/txn',
    'redis cpu ms/txn',
    'round trips/txn',
    'redis evalsha/all per txn',
    'cache hits',
  ];
  const lines = rows.map((r) => [
    r.name,
    String(r.perSec),
    String(r.errors),
    ...STAGES.map((s) => (r.stageMs[s] ? `${r.stageMs[s].p50}/${r.stageMs[s].p99}` : '-')),
    r.cpuMsPerTxn === undefined ? '-' : String(r.cpuMsPerTxn),
    r.redisCpuMsPerTxn === undefined ? '-' : String(r.redisCpuMsPerTxn),
    r.roundTripsPerTxn === undefined ? '-' : String(r.roundTripsPerTxn),
    r.redisPerTxn ? `${r.redisPerTxn.scripts}/${r.redisPerTxn.executed}` : '-',
    r.cacheHitRate === undefined ? '-' : `${Math.round(r.cacheHitRate * 100)}%`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(fmt(head));
  for (const l of lines) console.log(fmt(l));
}

const want = (name: string) => !ONLY || ONLY.some((o) => name.startsWith(o));

async function main(): Promise<void> {
  console.log(
    `bench: concurrency ${CONCURRENCY}, warm-up ${WARMUP_MS} ms, measured ${DURATION_MS} ms per row, message ${toEml(clean20k()).length} bytes`,
  );
  const stops: (() => Promise<void>)[] = [];
  const started = async <T extends { stop(): Promise<void> }>(p: Promise<T>): Promise<T> => {
    const d = await p;
    stops.push(() => d.stop());
    return d;
  };
  const t0 = performance.now();
  const rows: Row[] = [];
  const ratios: Record<string, number> = {};
  let peers: PeerBenchResult | undefined;
  let peersError: unknown;
  let shards: ShardsResult | undefined;
  let redis, clamd, sink;
  try {
    redis = await started(startRedis(['--maxmemory-policy', 'noeviction']));
    clamd = await started(startClamd());
    sink = await started(startOtlpSink());
  } catch (err) {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    throw err;
  }
  const byName = (n: string) => rows.find((r) => r.name === n);
  const ratio = (key: string, a: string, b: string, field: 'perSec' | 'cpuMsPerTxn' = 'perSec') => {
    const x = byName(a)?.[field];
    const y = byName(b)?.[field];
    if (x !== undefined && y) ratios[key] = round(x / y, 3);
  };
  try {
    if (want('noop')) {
      rows.push(
        await hookgateRow(
          {
            name: 'noop',
            scannersYaml: '  noop: { enabled: true, stages: [connect, ehlo, mail, rcpt, data] }',
          },
          redis.url,
          redis.port,
        ),
      );
      rows.push(
        await hookgateRow(
          {
            name: 'noop+tracing',
            scannersYaml: '  noop: { enabled: true, stages: [connect, ehlo, mail, rcpt, data] }',
            env: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url },
          },
          redis.url,
          redis.port,
        ),
      );
      ratio('tracingThroughput(noop+tracing/noop)', 'noop+tracing', 'noop');
      ratio('tracingCpu(noop+tracing/noop)', 'noop+tracing', 'noop', 'cpuMsPerTxn');
    }
    if (want('draft01')) {
      rows.push(await draft01Row('draft01-json', 'json', redis.url, redis.port));
      rows.push(await draft01Row('draft01-cbor', 'cbor', redis.url, redis.port));
      ratio('draft01Json/legacy(noop txn/s)', 'draft01-json', 'noop');
    }
    if (want('clamav')) {
      // The headline: ingress and worker as separate processes, as deployed; then the same in one process.
      rows.push(
        await hookgateRow(
          {
            name: 'clamav (split)',
            scannersYaml: '  clamav: { stages: [data] }',
            env: { HOOKGATE_CLAMD: clamd.tcp },
            split: 'clamav',
          },
          redis.url,
          redis.port,
        ),
      );
      rows.push(
        await hookgateRow(
          {
            name: 'clamav',
            scannersYaml: '  clamav: { stages: [data] }',
            env: { HOOKGATE_CLAMD: clamd.tcp },
          },
          redis.url,
          redis.port,
        ),
      );
      rows.push(
        await hookgateRow(
          {
            name: 'clamav-repeated',
            scannersYaml: '  clamav: { stages: [data] }',
            env: { HOOKGATE_CLAMD: clamd.tcp },
            repeatMessage: true,
          },
          redis.url,
          redis.port,
        ),
      );
      const client = new ClamdClient(parseEndpoint(clamd.tcp));
      rows.push(
        await directRow(
          'clamd-direct',
          async (b) => void (await client.instream(b, AbortSignal.timeout(10_000))),
        ),
      );
      ratio('clamav(hookgate txn/s ÷ clamd scans/s)', 'clamav', 'clamd-direct');
    }
    if (want('dlp')) {
      rows.push(
        await hookgateRow({ name: 'dlp', scannersYaml: '  dlp: { enabled: true }' }, redis.url, redis.port),
      );
      // The default scanners (clamav + DLP), split and in one process.
      rows.push(
        await hookgateRow(
          {
            name: 'default (split)',
            scannersYaml: '  clamav: { stages: [data] }\n  dlp: { enabled: true }',
            env: { HOOKGATE_CLAMD: clamd.tcp },
            split: 'clamav,dlp',
          },
          redis.url,
          redis.port,
        ),
      );
      rows.push(
        await hookgateRow(
          {
            name: 'default',
            scannersYaml: '  clamav: { stages: [data] }\n  dlp: { enabled: true }',
            env: { HOOKGATE_CLAMD: clamd.tcp },
          },
          redis.url,
          redis.port,
        ),
      );
      const engine = new DlpEngine(resolveDlpConfig({}));
      rows.push(await directRow('dlp-direct', async (b) => void (await engine.inspectMessage(b)), 1));
      ratio('dlp(hookgate txn/s ÷ engine msgs/s, 1 core)', 'dlp', 'dlp-direct');
    }
    if (want('milter')) {
      const m = await milterBench({
        redisUrl: redis.url,
        clamdTcp: clamd.tcp,
        durationMs: DURATION_MS,
        concurrency: CONCURRENCY,
      });
      rows.push({ name: 'postfix+milter+clamav (msgs)', perSec: m.withMilter, errors: 0, stageMs: {} });
      rows.push({ name: 'postfix-alone (msgs)', perSec: m.withoutMilter, errors: 0, stageMs: {} });
      ratio(
        'milter(postfix+hookgate ÷ postfix alone)',
        'postfix+milter+clamav (msgs)',
        'postfix-alone (msgs)',
      );
    }
    // One rspamd for its own rows and the peer rows; the milter proxy worker only when the peer rows run.
    const rspamd =
      want('rspamd') || want('peers') ? await startRspamd({ milterProxy: want('peers') }) : undefined;
    if (rspamd) stops.push(() => rspamd.stop());
    if (rspamd && want('rspamd')) {
      rows.push(
        await hookgateRow(
          {
            name: 'rspamd',
            scannersYaml: '  rspamd: { stages: [data] }',
            env: { HOOKGATE_RSPAMD_URL: rspamd.url },
            accept: /"action":"(accept|reject)"/,
          },
          redis.url,
          redis.port,
        ),
      );
      rows.push(
        await directRow(
          'rspamd-direct',
          async (b) =>
            void (await checkRspamd(
              rspamd.url,
              b,
              {
                IP: '198.51.100.1',
                Helo: 'mail.sender.example',
                From: 'alice@example.org',
                Rcpt: 'bob@example.net',
              },
              { timeoutMs: 10_000 },
            )),
        ),
      );
      ratio('rspamd(hookgate txn/s ÷ rspamd checks/s)', 'rspamd', 'rspamd-direct');
    }
    if (want('spamd')) {
      const spamd = await startSpamd();
      stops.push(() => spamd.stop());
      rows.push(
        await hookgateRow(
          {
            name: 'spamd',
            scannersYaml: '  spamd: { stages: [data], timeoutMs: 15000 }',
            env: { HOOKGATE_SPAMD: spamd.endpoint },
            concurrency: SPAMD_CONCURRENCY,
            accept: /"action":"(accept|reject)"/,
          },
          redis.url,
          redis.port,
        ),
      );
      rows.push(
        await directRow(
          'spamd-direct',
          async (b) => void (await spamdCheck(spamd.endpoint, b, { timeoutMs: 15_000 })),
          SPAMD_CONCURRENCY,
        ),
      );
      ratio('spamd(hookgate txn/s ÷ spamd checks/s)', 'spamd', 'spamd-direct');
    }
    // Queue shards and Redis Cluster (issue 13): their own Redis and Cluster, started and stopped by the rows.
    if (want('shards'))
      shards = await shardsBench({ warmupMs: WARMUP_MS, durationMs: DURATION_MS, concurrency: CONCURRENCY });
    // A broken peer setup fails the run, but only after the other rows are printed and saved.
    if (want('peers'))
      peers = await peersBench({
        clamd,
        ...(rspamd ? { rspamd } : {}),
        ...peerOptionsFromEnv(process.env),
      }).catch((err: unknown) => void (peersError = err));
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  }
  if (rows.length > 0) {
    print(rows);
    console.log(`ratios (same run): ${JSON.stringify(ratios)}`);
    for (const r of rows)
      if (r.redisPerTxn)
        console.log(`redis commands per txn (${r.name}): ${JSON.stringify(r.redisPerTxn.top)}`);
  }
  if (peers) printPeers(peers);
  if (shards) printShards(shards);
  const wallMs = Math.round(performance.now() - t0);
  console.log(`bench: ${Math.round(wallMs / 1000)} s wall`);
  mkdirSync('test/bench/results', { recursive: true });
  writeFileSync(
    'test/bench/results/latest.json',
    JSON.stringify(
      {
        at: new Date().toISOString(),
        concurrency: CONCURRENCY,
        durationMs: DURATION_MS,
        wallMs,
        rows,
        ratios,
        peers,
        shards,
      },
      null,
      2,
    ),
  );
  if (peersError)
    throw peersError instanceof Error
      ? peersError
      : new Error('the peers benchmark failed', { cause: peersError });
  console.log(
    `BENCH ${JSON.stringify({ rows: rows.map((r) => ({ name: r.name, perSec: r.perSec, cpuMsPerTxn: r.cpuMsPerTxn, redis: r.redisPerTxn?.executed, cacheHitRate: r.cacheHitRate })), ratios, ...(peers ? { peers: { ratios: peers.ratios, rows: peers.rows.map((r) => ({ path: r.path, engine: r.engine, sessions: r.sessions, msgsPerSec: r.msgsPerSec, totalMs: r.totalMs })) } } : {}), ...(shards ? { shards } : {}) })}`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
