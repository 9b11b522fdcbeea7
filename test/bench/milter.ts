/**
 * The milter row of `npm run bench`: messages per second through Postfix → `hookgate milter` → clamd (a
 * `hookgate worker` hosting clamav), against the same Postfix instance with no milter, in the same run. One
 * throwaway Postfix has two SMTP listeners, one with `smtpd_milters` and one without, and discards what it
 * accepts; the client sends the ~20 KB `clean20k()` sample, one message per SMTP connection, in a closed loop.
 */
import { startHookgate, writeConfig, type HookgateProcess } from '../support/processes.js';
import { startPostfix, type PostfixInstance } from '../support/postfix.js';
import { sendMail } from '../support/smtp-client.js';
import { clean20k, toEml } from '../support/samples.js';
import { closedLoop, cpuMs } from './measure.js';

export interface MilterBenchOptions {
  redisUrl: string;
  /** `tcp://127.0.0.1:port` of a clamd. */
  clamdTcp: string;
  /** Measured time per row, ms (after a warm-up of a fifth of it, at most 2 s). */
  durationMs: number;
  /** SMTP clients in the closed loop. */
  concurrency: number;
}

export interface MilterBenchResult {
  /** Messages accepted per second with hookgate as Postfix's milter. */
  withMilter: number;
  /** Messages accepted per second by the same Postfix without a milter. */
  withoutMilter: number;
}

const round = (n: number) => Math.round(n * 10) / 10;

async function row(
  port: number,
  o: MilterBenchOptions,
  message: string,
  cpuOf: HookgateProcess[],
): Promise<{ perSec: number; errors: number; cpuMsPerMsg: number }> {
  let cpu0 = 0;
  const cpu = () => cpuOf.reduce((sum, p) => sum + cpuMs(p.child.pid!), 0);
  const res = await closedLoop(
    o.concurrency,
    Math.min(2000, Math.round(o.durationMs / 5)),
    o.durationMs,
    async () => {
      const t = performance.now();
      await sendMail({ port, from: 'bench@example.org', to: ['rcpt@example.net'], message });
      return { message: performance.now() - t };
    },
    () => {
      cpu0 = cpu();
    },
  );
  return {
    perSec: round(res.count / (res.elapsedMs / 1000)),
    errors: res.errors,
    cpuMsPerMsg: res.count ? round((cpu() - cpu0) / res.count) : NaN,
  };
}

/**
 * Starts a worker (clamav), a milter and Postfix, measures both listeners one after the other, stops everything
 * it started. Redis and clamd are the caller's.
 */
export async function milterBench(opts: MilterBenchOptions): Promise<MilterBenchResult> {
  const prefix = `benchmilter${process.pid}`;
  const env = {
    HOOKGATE_CONFIG: writeConfig(
      `redis: { prefix: ${prefix} }\nlog: { level: warn }\nscanners:\n  clamav: { stages: [data] }\n  dlp: { enabled: false }\n`,
    ),
    HOOKGATE_REDIS_URL: opts.redisUrl,
    HOOKGATE_CLAMD: opts.clamdTcp,
    HOOKGATE_METRICS_LISTEN: '127.0.0.1:0',
  };
  const started: HookgateProcess[] = [];
  let postfix: PostfixInstance | undefined;
  try {
    started.push(await startHookgate(['worker', '--scanners', 'clamav'], env));
    const milter = await startHookgate(
      ['milter'],
      { ...env, HOOKGATE_MILTER_LISTEN: '127.0.0.1:0' },
      /milter listening on \S+/,
    );
    started.push(milter);
    const spec = /\(Postfix: smtpd_milters = (\S+)\)/.exec(milter.stderr())![1]!;
    postfix = await startPostfix({
      deliver: 'discard',
      listeners: [
        { name: 'milter', milters: spec },
        { name: 'plain', milters: null },
      ],
    });
    const message = toEml(clean20k());
    const withMilter = await row(postfix.ports.milter!, opts, message, started);
    const withoutMilter = await row(postfix.ports.plain!, opts, message, started);
    console.log(
      `milter bench: concurrency ${opts.concurrency}, ${opts.durationMs} ms per row, ${message.length} B message: ` +
        `Postfix+hookgate milter+clamd ${withMilter.perSec} msg/s (${withMilter.errors} errors, hookgate cpu ${withMilter.cpuMsPerMsg} ms/msg); ` +
        `Postfix alone ${withoutMilter.perSec} msg/s (${withoutMilter.errors} errors); ratio ${Math.round((withMilter.perSec / withoutMilter.perSec) * 1000) / 1000}`,
    );
    return { withMilter: withMilter.perSec, withoutMilter: withoutMilter.perSec };
  } finally {
    await postfix?.stop();
    await Promise.all(started.map((p) => p.stop()));
  }
}

// `node test/.bench-dist/bench/milter.js`: the row on its own, with private Redis and clamd.
if (process.argv[1]?.endsWith('/bench/milter.js')) {
  const { startRedis, startClamd } = await import('../support/daemons.js');
  const [redis, clamd] = await Promise.all([startRedis(['--maxmemory-policy', 'noeviction']), startClamd()]);
  try {
    const r = await milterBench({
      redisUrl: redis.url,
      clamdTcp: clamd.tcp,
      durationMs: Number(process.env.BENCH_DURATION_MS ?? 10_000),
      concurrency: Number(process.env.BENCH_CONCURRENCY ?? 8),
    });
    console.log(`BENCH ${JSON.stringify({ milter: r })}`);
  } finally {
    await Promise.all([redis.stop(), clamd.stop()]);
  }
}
