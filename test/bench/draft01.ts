/**
 * The draft-01 row of `npm run bench`: full 5-stage transactions (connect, ehlo, mail, rcpt, data with `body` as
 * rawMessage) through a running hookgate, as a draft-01 MTA sends them: one registration, then closed loops of
 * transactions, each stage a hook call with its own request id. Returns throughput and per-stage p50/p99 (ms).
 * The runner (test/bench/stalwart.ts or its successor) starts hookgate and prints the row next to the legacy one.
 */
import { Draft01Client, draft01Transaction, type Serialization } from '../support/draft01-client.js';
import { closedLoop, percentile } from './measure.js';

export interface Draft01BenchOptions {
  /** Base URL of a running hookgate ingress. */
  url: string;
  token?: string;
  durationMs: number;
  concurrency: number;
  /** The message sent as rawMessage at data. */
  body: Buffer;
  /** Unmeasured warm-up before `durationMs`; default a tenth of it, at most 2 s. */
  warmupMs?: number;
  /** Default json (what the rspamd bridge speaks). */
  serialization?: Serialization;
}

export interface Draft01BenchResult {
  txnPerSec: number;
  p50: Record<string, number>;
  p99: Record<string, number>;
  /** Transactions that failed (an error status or a reject for the clean body); not part of the figures. */
  errors?: number;
}

const STAGES = ['connect', 'ehlo', 'mail', 'rcpt', 'data'] as const;
const round = (n: number) => Math.round(n * 100) / 100;

export async function draft01Bench(opts: Draft01BenchOptions): Promise<Draft01BenchResult> {
  const client = new Draft01Client({
    baseUrl: opts.url,
    ...(opts.token ? { token: opts.token } : {}),
    serialization: opts.serialization ?? 'json',
    name: 'bench.test.invalid',
    maxRetries: 0,
  });
  try {
    await client.register();
    const res = await closedLoop(
      opts.concurrency,
      opts.warmupMs ?? Math.min(2_000, Math.round(opts.durationMs / 10)),
      opts.durationMs,
      async (i) => {
        const bodies = draft01Transaction(
          { clientPort: 10_000 + (i % 50_000), clientIp: `198.51.${(i >> 8) & 255}.${i & 255}` },
          opts.body,
        );
        const lat: Record<string, number> = {};
        for (const [j, body] of bodies.entries()) {
          const t = performance.now();
          const r = await client.hook(body);
          if (r.status !== 204 && r.status !== 200)
            throw new Error(`${String(body.stage)}: ${r.status} ${r.error?.code ?? ''}`);
          if (r.ops?.set?.some((o) => o.path === '/action'))
            throw new Error(`${String(body.stage)}: action changed`);
          lat[STAGES[j]!] = performance.now() - t;
        }
        return lat;
      },
    );
    return {
      txnPerSec: Math.round((res.count / (res.elapsedMs / 1000)) * 10) / 10,
      p50: Object.fromEntries(STAGES.map((s) => [s, round(percentile(res.latencies[s] ?? [], 50))])),
      p99: Object.fromEntries(STAGES.map((s) => [s, round(percentile(res.latencies[s] ?? [], 99))])),
      errors: res.errors,
    };
  } finally {
    await client.deregister().catch(() => undefined);
    client.close();
  }
}
