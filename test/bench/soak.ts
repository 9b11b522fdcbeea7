/**
 * `npm run soak` (issue 11): hookgate as deployed (ingress and a clamav + DLP worker in separate processes, a private
 * Redis and clamd) under a steady open-loop load of 5-stage Stalwart transactions, for a long time. Every 10 s it
 * samples the ingress's and the worker's RSS and Redis's used_memory; at the end it prints the series, the first
 * and last thirds' averages and their ratio. Flat means nothing grows with history: memory is bounded by what is
 * in flight.
 *
 *   SOAK_MINUTES (30)   how long to run the load
 *   SOAK_RATE           transactions per second; default: half of the throughput a 15 s closed-loop probe reaches
 */
import { Agent } from 'node:http';
import { postJson } from '../support/http.js';
import { freePort, startClamd, startRedis } from '../support/daemons.js';
import { startHookgate, writeConfig, type HookgateProcess } from '../support/processes.js';
import { transaction } from '../support/stalwart.js';
import { clean20k } from '../support/samples.js';
import { closedLoop, redisCommand } from './measure.js';
import { readFileSync } from 'node:fs';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 30);
const SAMPLE_MS = 10_000;

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

async function usedMemoryMb(port: number): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redisCommand(port, 'INFO', 'memory'))?.[1] ?? 0) / 1024 / 1024;
}

async function main(): Promise<void> {
  const [redis, clamd] = await Promise.all([startRedis(['--maxmemory-policy', 'noeviction']), startClamd()]);
  const procs: HookgateProcess[] = [];
  try {
    const env = {
      HOOKGATE_CONFIG: writeConfig('redis: { prefix: soak }\nlog: { level: warn }\n'),
      HOOKGATE_REDIS_URL: redis.url,
      HOOKGATE_CLAMD: clamd.tcp,
    };
    const worker = await startHookgate(['worker', '--scanners', 'clamav,dlp'], {
      ...env,
      HOOKGATE_METRICS_LISTEN: `127.0.0.1:${await freePort()}`,
    });
    procs.push(worker);
    const ingress = await startHookgate(['ingress'], {
      ...env,
      HOOKGATE_LISTEN: `127.0.0.1:${await freePort()}`,
    });
    procs.push(ingress);
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    const url = new URL(`${ingress.url}/hooks/stalwart`);
    const postOnce = postJson(url, agent);
    const post = async (body: string): Promise<string> => {
      const res = await postOnce(body);
      if (res.status !== 200) throw new Error(`status ${res.status}`);
      return res.text;
    };
    let n = 0;
    const txn = async () => {
      const i = n++;
      const sample = clean20k({ messageId: `soak-${i}` });
      for (const body of transaction(
        { clientPort: 10_000 + (i % 50_000), clientIp: `198.51.${(i >> 8) & 255}.${i & 255}` },
        sample,
      ))
        await post(JSON.stringify(body));
    };

    let rate = Number(process.env.SOAK_RATE ?? 0);
    if (!rate) {
      const probe = await closedLoop(16, 3000, 15_000, async () => (await txn(), {}));
      rate = Math.max(1, Math.round(probe.count / (probe.elapsedMs / 1000) / 2));
      console.log(
        `soak: closed-loop probe ${Math.round(probe.count / (probe.elapsedMs / 1000))} txn/s; soaking at half: ${rate} txn/s for ${MINUTES} min`,
      );
    }
    const samples: {
      min: number;
      ingressMb: number;
      workerMb: number;
      redisMb: number;
      answered: number;
      errors: number;
    }[] = [];
    let answered = 0;
    let errors = 0;
    let inFlight = 0;
    const t0 = Date.now();
    const end = t0 + MINUTES * 60_000;
    // Open loop: start transactions on a fixed schedule, whatever the answers take.
    const tick = setInterval(() => {
      const due = Math.floor(((Date.now() - t0) / 1000) * rate) - (answered + errors + inFlight);
      for (let k = 0; k < due && inFlight < 2000; k++) {
        inFlight++;
        txn()
          .then(
            () => answered++,
            () => errors++,
          )
          .finally(() => inFlight--);
      }
    }, 20);
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, SAMPLE_MS));
      const s = {
        min: Math.round((Date.now() - t0) / 600) / 100,
        ingressMb: rssMb(ingress.child.pid!),
        workerMb: rssMb(worker.child.pid!),
        redisMb: await usedMemoryMb(redis.port),
        answered,
        errors,
      };
      samples.push(s);
      console.log(
        `soak: ${s.min.toFixed(2)} min  ingress ${s.ingressMb.toFixed(1)} MB  worker ${s.workerMb.toFixed(1)} MB  redis ${s.redisMb.toFixed(1)} MB  answered ${answered}  errors ${errors}  in flight ${inFlight}`,
      );
    }
    clearInterval(tick);
    while (inFlight > 0) await new Promise((r) => setTimeout(r, 100));
    agent.destroy();
    // Thirds of the run: Redis fills during the first (records and cache entries live ten minutes), so flat means the
    // middle and last thirds agree.
    const third = Math.max(1, Math.floor(samples.length / 3));
    const avg = (xs: typeof samples, k: 'ingressMb' | 'workerMb' | 'redisMb') =>
      xs.reduce((a, x) => a + x[k], 0) / Math.max(1, xs.length);
    const r1 = (n: number) => Math.round(n * 10) / 10;
    const summary = Object.fromEntries(
      (['ingressMb', 'workerMb', 'redisMb'] as const).map((k) => {
        const [first, middle, last] = [
          samples.slice(0, third),
          samples.slice(third, 2 * third),
          samples.slice(2 * third),
        ].map((xs) => avg(xs, k)) as [number, number, number];
        return [
          k,
          {
            firstThird: r1(first),
            middleThird: r1(middle),
            lastThird: r1(last),
            lastOverMiddle: Math.round((last / middle) * 100) / 100,
          },
        ];
      }),
    );
    console.log(`SOAK ${JSON.stringify({ minutes: MINUTES, rate, answered, errors, summary })}`);
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGTERM');
    await Promise.all([redis.stop(), clamd.stop()]);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
