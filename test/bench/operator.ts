/**
 * Issue 16's costs, measured side by side in one run on a private Redis:
 * - the recent-verdicts feed: `finalize` with and without the feed XADD and queue-id SET (latency and Redis CPU per
 *   recorded stage), alternating blocks so drift hits both alike;
 * - the quarantine: time to keep a message and Redis memory per kept item, by message size.
 * Run: `npm run bench` (or `BENCH_ONLY=operator npm run bench`).
 */
import { randomBytes } from 'node:crypto';
import type { StageRequest, VerdictRecord } from '@hookgate/contracts';
import { createRedisClient, connectRedis, closeRedis } from '@hookgate/redis';
import { TransactionStore } from '@hookgate/state-store';
import { Quarantine, RedisQuarantineStore } from '@hookgate/quarantine';
import { startRedis } from '../support/daemons.js';
import { percentile, redisCommand } from './measure.js';

const BLOCK = 2000;
const BLOCKS = 4;

function info(text: string, key: string): number {
  return Number(new RegExp(`^${key}:([\\d.]+)`, 'm').exec(text)?.[1] ?? NaN);
}

async function redisCpuMs(port: number): Promise<number> {
  const t = await redisCommand(port, 'INFO', 'cpu');
  return (info(t, 'used_cpu_sys') + info(t, 'used_cpu_user')) * 1000;
}

async function usedMemory(port: number): Promise<number> {
  await redisCommand(port, 'MEMORY', 'PURGE');
  return info(await redisCommand(port, 'INFO', 'memory'), 'used_memory');
}

const request = (sessionId: string, reqId: string): StageRequest => ({
  v: 1,
  protocol: 'stalwart',
  stage: 'data',
  sessionId,
  txnId: '',
  reqId,
  client: { ip: '192.0.2.1' },
  queueId: reqId.slice(0, 12),
  from: { address: 'alice@example.org' },
  to: [{ address: 'bob@example.net' }],
  receivedAt: 1,
  deadlineAt: 2,
});
const record = (sessionId: string, reqId: string): VerdictRecord => ({
  v: 1,
  reqId,
  txnId: `${sessionId}.1`,
  stage: 'data',
  expected: ['clamav', 'dlp'],
  answeredAt: Date.now(),
  durationMs: 40,
  results: [
    { v: 1, scanner: 'clamav', kind: 'av', outcome: { status: 'pass' }, durationMs: 31, at: 1 },
    { v: 1, scanner: 'dlp', kind: 'dlp', outcome: { status: 'pass' }, durationMs: 4, at: 1 },
  ],
  verdict: {
    v: 1,
    action: 'accept',
    modifications: [],
    reasons: [],
    decidedBy: ['clamav', 'dlp'],
    partial: false,
    policy: 'default',
  },
});

async function main(): Promise<void> {
  const redis = await startRedis();
  const client = createRedisClient(
    { mode: 'standalone', url: redis.url },
    { role: 'command', commandTimeoutMs: 10_000 },
  );
  await connectRedis(client);
  try {
    // ---- feed cost ----
    const plain = new TransactionStore(client, { prefix: 'bp' });
    const fed = new TransactionStore(client, { prefix: 'bf', feedEntries: 5000, indexQueueIds: true });
    const rows: Record<string, { ms: number[]; cpu: number; n: number }> = {
      finalize: { ms: [], cpu: 0, n: 0 },
      'finalize + feed + queue-id index': { ms: [], cpu: 0, n: 0 },
    };
    for (let b = 0; b < BLOCKS * 2; b++) {
      const [name, store] =
        b % 2 === 0 ? (['finalize', plain] as const) : (['finalize + feed + queue-id index', fed] as const);
      const row = rows[name]!;
      const reqs = Array.from(
        { length: BLOCK },
        () => [randomBytes(8).toString('hex'), randomBytes(12).toString('base64url')] as const,
      );
      for (const [s, r] of reqs) await store.beginStage(request(s, r));
      const cpu0 = await redisCpuMs(redis.port);
      for (const [s, r] of reqs) {
        const t = performance.now();
        await store.finalize(s, record(s, r), { dropMessage: true, context: request(s, r) });
        row.ms.push(performance.now() - t);
      }
      row.cpu += (await redisCpuMs(redis.port)) - cpu0;
      row.n += BLOCK;
    }
    console.log('\nrecent-verdicts feed: cost per recorded stage (sequential, one client)');
    console.log('| operation | p50 ms | p99 ms | Redis CPU µs/op |');
    console.log('| --- | --- | --- | --- |');
    for (const [name, row] of Object.entries(rows)) {
      const sorted = row.ms.sort((a, b) => a - b);
      console.log(
        `| ${name} | ${percentile(sorted, 50).toFixed(3)} | ${percentile(sorted, 99).toFixed(3)} | ${((row.cpu * 1000) / row.n).toFixed(1)} |`,
      );
    }
    const feedBytes = Number(
      (await redisCommand(redis.port, 'MEMORY', 'USAGE', 'bf:feed', 'SAMPLES', '0')).replace(/^:/, '').trim(),
    );
    const feedLen = Number((await redisCommand(redis.port, 'XLEN', 'bf:feed')).replace(/^:/, '').trim());
    console.log(`feed stream: ${feedLen} entries, ${Math.round(feedBytes / feedLen)} bytes each`);

    // ---- quarantine ----
    console.log('\nquarantine (Redis store): keep latency and memory per item');
    console.log(
      '| message size | items | keep p50 ms | keep p99 ms | Redis memory per item | overhead over the message |',
    );
    console.log('| --- | --- | --- | --- | --- | --- |');
    for (const [size, items] of [
      [4096, 2000],
      [65_536, 500],
      [1_048_576, 50],
    ] as const) {
      const q = new Quarantine({
        store: new RedisQuarantineStore(client, { prefix: `bq${size}`, maxBytes: 4 * 1024 ** 3 }),
        retentionMs: 3_600_000,
      });
      const body = Buffer.alloc(size - 200, 'x');
      const before = await usedMemory(redis.port);
      const ms: number[] = [];
      for (let i = 0; i < items; i++) {
        const s = randomBytes(8).toString('hex');
        const r = randomBytes(12).toString('base64url');
        const msg = Buffer.concat([
          Buffer.from(
            `From: a@example.org\r\nTo: b@example.net\r\nSubject: bench ${i}\r\nMessage-ID: <${r}@x>\r\n\r\n`,
          ),
          body,
        ]);
        const t = performance.now();
        await q.keep(
          {
            ...request(s, r),
            txnId: `${s}.1`,
            message: { size: msg.length, storedBytes: msg.length, lossy: false, subject: `bench ${i}` },
          },
          msg,
          {
            ...record(s, r),
            verdict: {
              ...record(s, r).verdict,
              action: 'quarantine',
              reasons: ['clamav:virus:Eicar-Test-Signature'],
            },
          },
        );
        ms.push(performance.now() - t);
      }
      const per = ((await usedMemory(redis.port)) - before) / items;
      const sorted = ms.sort((a, b) => a - b);
      console.log(
        `| ${size >= 1048576 ? `${size / 1048576} MiB` : `${size / 1024} KiB`} | ${items} | ${percentile(sorted, 50).toFixed(2)} | ${percentile(sorted, 99).toFixed(2)} | ${Math.round(per)} B | ${Math.round(per - size)} B |`,
      );
    }
  } finally {
    await closeRedis(client);
    await redis.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
