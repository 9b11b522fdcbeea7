/**
 * Measurement helpers for the benchmark: closed-loop load, latency percentiles, process CPU from /proc, Redis
 * command counts from INFO. Figures are printed side by side from one run; absolute numbers drift on shared
 * machines, ratios much less.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';

/** CPU time (user + system) of a process and its threads, ms. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Sends one RESP command over a fresh socket (no client library: the bench must not add its own Redis calls). */
export function redisCommand(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    let out = '';
    sock.on('connect', () =>
      sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`),
    );
    sock.on('data', (b) => {
      out += b.toString();
      const m = /^\$(\d+)\r\n/.exec(out);
      if (m && out.length >= m[0].length + Number(m[1]) + 2) sock.end();
      else if (/^[+:-].*\r\n$/.test(out)) sock.end();
    });
    sock.on('error', reject);
    sock.on('close', () => resolve(out));
  });
}

export interface RedisCounts {
  /** Commands sent by clients (scripts count once). */
  processed: number;
  /** Every command executed, including those run inside Lua scripts. */
  executed: number;
  perCommand: Record<string, number>;
}

export async function redisCounts(port: number): Promise<RedisCounts> {
  const stats = await redisCommand(port, 'INFO', 'stats');
  const cmd = await redisCommand(port, 'INFO', 'commandstats');
  const processed = Number(/total_commands_processed:(\d+)/.exec(stats)?.[1] ?? 0);
  const perCommand: Record<string, number> = {};
  for (const m of cmd.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) perCommand[m[1]!] = Number(m[2]);
  return { processed, executed: Object.values(perCommand).reduce((a, b) => a + b, 0), perCommand };
}

/** Redis server CPU (user + system) so far, ms, from INFO cpu. */
export async function redisCpuMs(port: number): Promise<number> {
  const info = await redisCommand(port, 'INFO', 'cpu');
  const f = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return (f('used_cpu_sys') + f('used_cpu_user')) * 1000;
}

/** Redis round trips hookgate's processes have made so far (`hookgate_redis_round_trips_total`, summed over connections). */
export async function commandsSent(metricsUrls: readonly string[]): Promise<number> {
  let sum = 0;
  for (const url of metricsUrls) {
    const text = await (await fetch(url)).text();
    for (const m of text.matchAll(/^hookgate_redis_round_trips_total\{[^}]*\} (\d+(?:\.\d+)?)$/gm))
      sum += Number(m[1]);
  }
  return sum;
}

export function diffCounts(a: RedisCounts, b: RedisCounts): RedisCounts {
  const perCommand: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.perCommand)) {
    const d = v - (a.perCommand[k] ?? 0);
    if (d > 0) perCommand[k] = d;
  }
  return { processed: b.processed - a.processed, executed: b.executed - a.executed, perCommand };
}

/**
 * Runs `task` in `concurrency` closed loops: `warmupMs` unmeasured, then `durationMs` measured. `task` returns
 * per-step latencies (ms) keyed by step name.
 */
export async function closedLoop(
  concurrency: number,
  warmupMs: number,
  durationMs: number,
  task: (i: number) => Promise<Record<string, number>>,
  onMeasureStart: () => Promise<void> | void = () => undefined,
): Promise<{ count: number; errors: number; elapsedMs: number; latencies: Record<string, number[]> }> {
  const latencies: Record<string, number[]> = {};
  let measuring = false;
  let stop = false;
  let count = 0;
  let errors = 0;
  let seq = 0;
  const loops = Array.from({ length: concurrency }, async () => {
    while (!stop) {
      const i = seq++;
      try {
        const l = await task(i);
        if (measuring && !stop) {
          count++;
          for (const [k, v] of Object.entries(l)) (latencies[k] ??= []).push(v);
        }
      } catch {
        if (measuring) errors++;
      }
      // A task that never waits on I/O (an engine called in process) would otherwise starve the timers below.
      await new Promise((r) => setImmediate(r));
    }
  });
  await new Promise((r) => setTimeout(r, warmupMs));
  await onMeasureStart();
  measuring = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, durationMs));
  stop = true;
  const elapsedMs = performance.now() - t0;
  await Promise.all(loops);
  for (const v of Object.values(latencies)) v.sort((a, b) => a - b);
  return { count, errors, elapsedMs, latencies };
}
