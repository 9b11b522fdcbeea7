/**
 * The milter peer rows of `npm run bench` (issue 12): what an operator would run instead of hookgate, next to
 * hookgate, on one box, the same engines, the same Postfix and the same load, in one run.
 *
 *   Postfix → clamav-milter → clamd                     vs  Postfix → hookgate milter → hookgate worker (clamav) → clamd
 *   Postfix → rspamd proxy (milter mode) → rspamd normal vs  Postfix → hookgate milter → hookgate worker (rspamd) → rspamd normal
 *
 * hookgate runs as deployed: the milter and the worker are separate processes sharing a private Redis; DLP is off
 * so both sides run the same engines. Load: Postfix's smtp-source, one message per connection, at each session
 * count. It is C and costs the box ~0.2 ms per message (a Node client ~0.65 ms, which would crowd the filters on 2
 * cores), and it gives up at the first refused message. It sends the 20 KB `clean20k()` text with `-F`: its own
 * `-l` filler (numbered lines of X) moves the engines' cost both ways (rspamd ~2.1 ms instead of ~3, clamd ~0.9
 * instead of ~0.35). Every message is then the same bytes, which hookgate's result cache would answer without a
 * scan, so the cache is off here (`cache.ttlMs: 0`), as the peers have none; with unique real mail it costs a
 * SHA-256 of the message, a Redis GET that misses and a SET per clamav scan, not counted in these rows.
 *
 * CPU per message, from /proc (user + system, all threads, children included where a daemon forks):
 *   filter  clamav-milter | rspamd's proxy worker | hookgate milter + hookgate worker
 *   engine  clamd | rspamd's normal worker (+ its main, controller and hs_helper processes, listed apart)
 *   redis   hookgate's Redis, from /proc and from `INFO cpu` (used_cpu_sys + used_cpu_user)
 *   total   filter + engine + redis: everything on the box but Postfix (shown apart) and the load generator.
 */
import { closeSync, existsSync, openSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startRedis, tempDir, type ClamdDaemon, type RedisDaemon } from '../support/daemons.js';
import { startClamavMilter, type ClamavMilter } from '../support/clamav-milter.js';
import type { RspamdDaemon } from '../support/rspamd.js';
import { startPostfix, type PostfixInstance } from '../support/postfix.js';
import { startHookgate, writeConfig, type HookgateProcess } from '../support/processes.js';
import { messageFile, smtpSource } from '../support/smtp-source.js';
import { procStat, treeCpuMs } from '../support/proc.js';
import { clean20k, toEml } from '../support/samples.js';
import { redisCommand } from './measure.js';

export interface PeerBenchOptions {
  clamd: ClamdDaemon;
  /** Started with `milterProxy: true`; without it the rspamd rows are left out. */
  rspamd?: RspamdDaemon;
  /** SMTP sessions in parallel, one row pair per entry (default 8 and 40). */
  sessions?: number[];
  /** Messages per measured row (default 1000), in `rounds` alternating with the other path (default 4). */
  messages?: number;
  rounds?: number;
  /** Unmeasured messages through each path before its first round (default 200). */
  warmupMessages?: number;
  engines?: Engine[];
}

type Engine = 'clamav' | 'rspamd';
type Counts = Required<Pick<PeerBenchOptions, 'messages' | 'rounds' | 'warmupMessages'>>;

export interface PeerRow {
  engine: Engine;
  /** `clamav-milter`, `rspamd proxy`, `hookgate (clamav)` or `hookgate (rspamd)`. */
  path: string;
  sessions: number;
  messages: number;
  /** Messages Postfix did not deliver (refused, or smtp-source gave up). */
  errors: number;
  msgsPerSec: number;
  /** CPU ms per message by process, and the sums. */
  filter: Record<string, number>;
  engineCpu: Record<string, number>;
  filterMs: number;
  engineMs: number;
  /** hookgate only: Redis server CPU per message, from /proc and from INFO cpu. */
  redisMs?: number;
  redisInfoMs?: number;
  totalMs: number;
  postfixMs: number;
  note?: string;
  /** The floor row: hookgate's milter with nothing to check (no pipeline, no worker, no engine). */
  floor?: boolean;
}

export interface PeerBenchResult {
  rows: PeerRow[];
  /** hookgate ÷ peer, same run: `<engine>@<sessions>` → msgs/s and total CPU per message. */
  ratios: Record<string, { msgsPerSec: number; totalCpu: number; filterCpu: number }>;
  /** Per measured row, in `rounds`, after `warmupMessages` unmeasured; the message's size in bytes. */
  messages: number;
  rounds: number;
  warmupMessages: number;
  messageBytes: number;
  wallMs: number;
}

/** Targets of issue 12 at 40 sessions: hookgate's msgs/s at least this share of the peer's; total CPU at most 1.3×. */
export const TARGETS: Record<Engine, { msgsPerSec: number; totalCpu: number }> = {
  clamav: { msgsPerSec: 1.0, totalCpu: 1.3 },
  rspamd: { msgsPerSec: 0.95, totalCpu: 1.3 },
};

const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;
const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

/** CPU readers of one path: each returns a process's CPU so far, ms. */
interface Path {
  engine: Engine;
  path: string;
  floor?: boolean;
  listener: string;
  filter: Record<string, () => number>;
  engineCpu: Record<string, () => number>;
  redis?: RedisDaemon;
}

const ownCpu = (pid: number) => () => procStat(pid)?.cpuMs ?? 0;
const rolesCpu = (pids: number[]) => () => pids.reduce((a, p) => a + (procStat(p)?.cpuMs ?? 0), 0);

async function redisInfoCpuMs(port: number): Promise<number> {
  const info = await redisCommand(port, 'INFO', 'cpu');
  const field = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return (field('used_cpu_sys') + field('used_cpu_user')) * 1000;
}

/**
 * Deliveries so far, from the lines of Postfix's log that record one (every transport discards), read on from
 * where the last call stopped: the log grows by megabytes over a run.
 */
function deliveries(postfix: PostfixInstance): () => number {
  const file = join(postfix.dir, 'maillog');
  let offset = 0;
  let count = 0;
  let partial = '';
  return () => {
    if (!existsSync(file)) return count;
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(1 << 20);
      for (let got; (got = readSync(fd, buf, 0, buf.length, offset)) > 0; offset += got) {
        const lines = (partial + buf.toString('latin1', 0, got)).split('\n');
        partial = lines.pop()!;
        count += lines.filter((l) => l.includes(' status=sent (')).length;
      }
    } finally {
      closeSync(fd);
    }
    return count;
  };
}

/** Waits until Postfix has delivered `expected` messages in all (bounded: a stuck queue shows as errors in the row). */
async function drained(sent: () => number, expected: number, timeoutMs = 60_000): Promise<number> {
  const until = Date.now() + timeoutMs;
  let n = sent();
  while (n < expected && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    n = sent();
  }
  return n;
}

interface Snapshot {
  filter: Record<string, number>;
  engine: Record<string, number>;
  redis: number;
  redisInfo: number;
}

async function snapshot(p: Path): Promise<Snapshot> {
  const read = (r: Record<string, () => number>) =>
    Object.fromEntries(Object.entries(r).map(([k, f]) => [k, f()]));
  return {
    filter: read(p.filter),
    engine: read(p.engineCpu),
    redis: p.redis ? ownCpu(p.redis.pid)() : 0,
    redisInfo: p.redis ? await redisInfoCpuMs(p.redis.port) : 0,
  };
}

/** CPU (ms) and messages summed over a path's measured rounds. */
interface Tally {
  sent: number;
  tried: number;
  elapsedMs: number;
  filter: Record<string, number>;
  engine: Record<string, number>;
  redis: number;
  redisInfo: number;
  postfix: number;
  notes: string[];
}

const tally = (): Tally => ({
  sent: 0,
  tried: 0,
  elapsedMs: 0,
  filter: {},
  engine: {},
  redis: 0,
  redisInfo: 0,
  postfix: 0,
  notes: [],
});

function addDiff(into: Record<string, number>, a: Record<string, number>, b: Record<string, number>): void {
  for (const k of Object.keys(b)) into[k] = (into[k] ?? 0) + b[k]! - a[k]!;
}

/** Postfix with its delivery counter, and the message file smtp-source sends. */
interface Bed {
  postfix: PostfixInstance;
  sent: () => number;
  file: string;
}

async function warmUp(
  p: Path,
  sessions: number,
  messages: number,
  { postfix, sent, file }: Bed,
): Promise<void> {
  if (messages <= 0) return;
  const before = sent();
  const w = await smtpSource({ port: postfix.ports[p.listener]!, sessions, messages, file });
  if (w.code !== 0)
    throw new Error(`${p.path} warm-up failed: smtp-source exited ${w.code}: ${w.output.trim()}`);
  await drained(sent, before + messages);
}

/**
 * Waits until the path's processes are idle (their CPU unchanged over 100 ms, at most 3 s): work a filter does
 * after answering Postfix (state cleanup, job bookkeeping) belongs to the round that caused it.
 */
async function settled(p: Path): Promise<void> {
  const total = () =>
    sum(
      Object.fromEntries(
        [...Object.entries(p.filter), ...Object.entries(p.engineCpu)].map(([k, f]) => [k, f()]),
      ),
    ) + (p.redis ? ownCpu(p.redis.pid)() : 0);
  const until = Date.now() + 3000;
  for (let last = total(); Date.now() < until;) {
    await new Promise((r) => setTimeout(r, 100));
    const now = total();
    if (now === last) return;
    last = now;
  }
}

/** One measured round: `messages` through the path; CPU read when the path is idle before and after. */
async function measureRound(
  p: Path,
  sessions: number,
  messages: number,
  { postfix, sent: delivered, file }: Bed,
  t: Tally,
): Promise<void> {
  const before = delivered();
  await settled(p);
  const s0 = await snapshot(p);
  const pf0 = treeCpuMs(postfix.masterPid());
  const run = await smtpSource({ port: postfix.ports[p.listener]!, sessions, messages, file });
  const sent = (await drained(delivered, before + messages)) - before;
  await settled(p);
  const s1 = await snapshot(p);
  t.postfix += treeCpuMs(postfix.masterPid()) - pf0;
  t.sent += sent;
  t.tried += messages;
  t.elapsedMs += run.elapsedMs;
  addDiff(t.filter, s0.filter, s1.filter);
  addDiff(t.engine, s0.engine, s1.engine);
  t.redis += s1.redis - s0.redis;
  t.redisInfo += s1.redisInfo - s0.redisInfo;
  if (run.code !== 0) t.notes.push(`smtp-source exited ${run.code}: ${run.output.trim().split('\n')[0]}`);
}

function toRow(p: Path, sessions: number, t: Tally): PeerRow {
  const n = Math.max(1, t.sent);
  const per = (r: Record<string, number>) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, round(v / n)]));
  const filter = per(t.filter);
  const engineCpu = per(t.engine);
  const filterMs = round(sum(t.filter) / n);
  const engineMs = round(sum(t.engine) / n);
  const redisMs = p.redis ? round(t.redis / n) : undefined;
  return {
    engine: p.engine,
    path: p.path,
    sessions,
    messages: t.sent,
    errors: t.tried - t.sent,
    msgsPerSec: round(t.sent / (t.elapsedMs / 1000), 1),
    filter,
    engineCpu,
    filterMs,
    engineMs,
    ...(redisMs !== undefined ? { redisMs, redisInfoMs: round(t.redisInfo / n) } : {}),
    totalMs: round((sum(t.filter) + sum(t.engine) + (p.redis ? t.redis : 0)) / n),
    postfixMs: round(t.postfix / n),
    ...(t.notes.length ? { note: t.notes.join('; ') } : {}),
    ...(p.floor ? { floor: true } : {}),
  };
}

/**
 * A peer and hookgate at one session count: both warmed up, then measured in alternating rounds (peer, hookgate,
 * peer, …) so that load from elsewhere on a shared machine falls on both alike.
 */
async function measurePair(paths: Path[], sessions: number, o: Counts, bed: Bed): Promise<PeerRow[]> {
  for (const p of paths) await warmUp(p, sessions, o.warmupMessages, bed);
  const tallies = paths.map(tally);
  const per = Math.ceil(o.messages / o.rounds);
  for (let r = 0; r < o.rounds; r++) {
    for (const [i, p] of paths.entries()) await measureRound(p, sessions, per, bed, tallies[i]!);
  }
  return paths.map((p, i) => toRow(p, sessions, tallies[i]!));
}

/**
 * The floor: `hookgate milter` configured to check nothing (`milter.stages: []`), so every message is answered by
 * the milter session alone. What is left is the milter protocol in Node (accept, packets, replies): the part of
 * hookgate's cost no change to the pipeline, the queue or the worker can remove.
 */
async function startFloorMilter(redis: RedisDaemon, milterPort: number): Promise<HookgateProcess> {
  return startHookgate(['milter'], {
    HOOKGATE_CONFIG: writeConfig(
      `redis: { prefix: peersfloor }\nlog: { level: warn }\nmilter: { stages: [] }\nscanners:\n  dlp: { enabled: false }\n`,
    ),
    HOOKGATE_REDIS_URL: redis.url,
    HOOKGATE_METRICS_LISTEN: '127.0.0.1:0',
    HOOKGATE_MILTER_LISTEN: `127.0.0.1:${milterPort}`,
  });
}

/** `hookgate milter` and one `hookgate worker` for a single engine, as deployed: separate processes, one Redis. */
async function startHookgatePair(
  engine: Engine,
  o: PeerBenchOptions,
  redis: RedisDaemon,
  milterPort: number,
): Promise<HookgateProcess[]> {
  const env: Record<string, string> = {
    // No result cache: smtp-source repeats one message (see the top of this file).
    HOOKGATE_CONFIG: writeConfig(
      `redis: { prefix: peers${engine} }\nlog: { level: warn }\ncache: { ttlMs: 0 }\nscanners:\n  dlp: { enabled: false }\n  ${engine}: { stages: [data] }\n`,
    ),
    HOOKGATE_REDIS_URL: redis.url,
    HOOKGATE_METRICS_LISTEN: '127.0.0.1:0',
    ...(engine === 'clamav' ? { HOOKGATE_CLAMD: o.clamd.tcp } : { HOOKGATE_RSPAMD_URL: o.rspamd!.url }),
  };
  const started: HookgateProcess[] = [];
  try {
    started.push(await startHookgate(['worker', '--scanners', engine], env));
    started.push(
      await startHookgate(['milter'], { ...env, HOOKGATE_MILTER_LISTEN: `127.0.0.1:${milterPort}` }),
    );
    return started;
  } catch (err) {
    await Promise.all(started.map((p) => p.stop()));
    throw err;
  }
}

/**
 * Runs every row pair, peer first, at each session count; stops everything it started (clamd and rspamd are the
 * caller's).
 */
export async function peersBench(o: PeerBenchOptions): Promise<PeerBenchResult> {
  const t0 = performance.now();
  const sessions = o.sessions ?? [8, 40];
  const counts: Counts = {
    messages: o.messages ?? 1000,
    warmupMessages: o.warmupMessages ?? 200,
    rounds: Math.max(1, o.rounds ?? 4),
  };
  const engines = (o.engines ?? ['clamav', 'rspamd']).filter((e) => e !== 'rspamd' || o.rspamd?.milterSpec);
  const dir = tempDir('peers');
  const message = toEml(clean20k({ messageId: 'peers20k' }));
  const file = messageFile(dir, message);
  const stops: (() => Promise<unknown>)[] = [];
  const rows: PeerRow[] = [];
  try {
    const redis = await startRedis(['--maxmemory-policy', 'noeviction']);
    stops.push(() => redis.stop());
    const milterPorts = { clamav: await freePort(), rspamd: await freePort(), floor: await freePort() };
    let clamavMilter: ClamavMilter | undefined;
    if (engines.includes('clamav')) {
      clamavMilter = await startClamavMilter({ clamdPort: o.clamd.port });
      stops.push(() => clamavMilter!.stop());
    }
    // One Postfix, a listener per path; hookgate's milters come up later on ports chosen now.
    const postfix = await startPostfix({
      deliver: 'discard',
      listeners: [
        ...(clamavMilter ? [{ name: 'clamav-milter', milters: clamavMilter.spec }] : []),
        ...(engines.includes('rspamd') ? [{ name: 'rspamd-proxy', milters: o.rspamd!.milterSpec! }] : []),
        ...engines.map((e) => ({ name: `hookgate-${e}`, milters: `inet:127.0.0.1:${milterPorts[e]}` })),
        { name: 'hookgate-floor', milters: `inet:127.0.0.1:${milterPorts.floor}` },
      ],
    });
    stops.push(() => postfix.stop());
    const bed: Bed = { postfix, sent: deliveries(postfix), file };

    for (const engine of engines) {
      const pair = await startHookgatePair(engine, o, redis, milterPorts[engine]);
      try {
        let peer: Path;
        const engineCpu: Record<string, () => number> = {};
        if (engine === 'clamav') {
          engineCpu.clamd = ownCpu(o.clamd.pid);
          peer = {
            engine,
            path: 'clamav-milter',
            listener: 'clamav-milter',
            filter: { 'clamav-milter': () => treeCpuMs(clamavMilter!.pid) },
            engineCpu,
          };
        } else {
          const procs = o.rspamd!.processes();
          const pids = (role: string) => procs.filter((p) => p.role === role).map((p) => p.pid);
          engineCpu.normal = rolesCpu(pids('normal'));
          // main, controller, hs_helper: idle here, counted so that nothing of rspamd's is left out.
          engineCpu.other = rolesCpu(
            procs.filter((p) => !['normal', 'rspamd_proxy'].includes(p.role)).map((p) => p.pid),
          );
          peer = {
            engine,
            path: 'rspamd proxy',
            listener: 'rspamd-proxy',
            filter: { proxy: rolesCpu(pids('rspamd_proxy')) },
            engineCpu,
          };
        }
        const [worker, milter] = pair as [HookgateProcess, HookgateProcess];
        const hookgate: Path = {
          engine,
          path: `hookgate (${engine})`,
          listener: `hookgate-${engine}`,
          filter: { milter: () => treeCpuMs(milter.child.pid!), worker: () => treeCpuMs(worker.child.pid!) },
          engineCpu,
          redis,
        };
        // The floor runs with the first engine's pair, at the largest session count, in the same rotation.
        const floorAt = engine === engines[0] ? Math.max(...sessions) : undefined;
        const floorProcess =
          floorAt !== undefined ? await startFloorMilter(redis, milterPorts.floor) : undefined;
        if (floorProcess) pair.push(floorProcess);
        for (const s of sessions) {
          const paths = [peer, hookgate];
          if (floorProcess && s === floorAt)
            paths.push({
              engine,
              path: 'hookgate milter, nothing checked (floor)',
              listener: 'hookgate-floor',
              floor: true,
              filter: { milter: () => treeCpuMs(floorProcess.child.pid!) },
              engineCpu: {},
              redis,
            });
          rows.push(...(await measurePair(paths, s, counts, bed)));
        }
      } finally {
        await Promise.all(pair.map((p) => p.stop()));
      }
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
  const ratios: PeerBenchResult['ratios'] = {};
  const isHookgate = (r: PeerRow) => r.path.startsWith('hookgate');
  for (const h of rows.filter((r) => isHookgate(r) && !r.floor)) {
    const p = rows.find((r) => r.engine === h.engine && r.sessions === h.sessions && !isHookgate(r));
    if (p)
      ratios[`${h.engine}@${h.sessions}`] = {
        msgsPerSec: round(h.msgsPerSec / p.msgsPerSec, 3),
        totalCpu: round(h.totalMs / p.totalMs, 3),
        filterCpu: round(h.filterMs / p.filterMs, 3),
      };
  }
  return {
    rows,
    ratios,
    ...counts,
    messageBytes: message.length,
    wallMs: Math.round(performance.now() - t0),
  };
}

function table(head: string[], lines: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [fmt(head), ...lines.map(fmt)].join('\n');
}

const parts = (r: Record<string, number>) =>
  Object.entries(r)
    .map(([k, v]) => `${k} ${v}`)
    .join(' + ');

/** The bench's table: one line per row, then hookgate ÷ peer per engine and session count against the targets. */
export function printPeers(r: PeerBenchResult): void {
  console.log(
    `milter peers: smtp-source, ${r.messages} messages of ${r.messageBytes} B per row in ${r.rounds} rounds alternating with the other path, ` +
      `after ${r.warmupMessages} unmeasured; CPU ms per message from /proc`,
  );
  console.log(
    table(
      [
        'path',
        'sessions',
        'msgs/s',
        'err',
        'filter ms/msg',
        'engine ms/msg',
        'redis ms/msg (/proc, INFO)',
        'TOTAL ms/msg',
        'postfix ms/msg',
      ],
      r.rows.map((x) => [
        x.path,
        String(x.sessions),
        String(x.msgsPerSec),
        String(x.errors),
        `${x.filterMs} (${parts(x.filter)})`,
        `${x.engineMs} (${parts(x.engineCpu)})`,
        x.redisMs === undefined ? '-' : `${x.redisMs}, ${x.redisInfoMs}`,
        String(x.totalMs),
        String(x.postfixMs),
      ]),
    ),
  );
  for (const x of r.rows) if (x.note) console.log(`note (${x.path}, ${x.sessions} sessions): ${x.note}`);
  console.log(
    table(
      [
        'hookgate ÷ peer (same run)',
        'sessions',
        'msgs/s',
        'total CPU/msg',
        'filter CPU/msg',
        'targets at 40 sessions',
      ],
      Object.entries(r.ratios).map(([k, v]) => {
        const [engine, s] = k.split('@') as [Engine, string];
        const t = TARGETS[engine];
        return [
          engine === 'clamav' ? 'hookgate ÷ clamav-milter' : 'hookgate ÷ rspamd proxy',
          s,
          `${v.msgsPerSec}×`,
          `${v.totalCpu}×`,
          `${v.filterCpu}×`,
          s === '40'
            ? `msgs/s ≥ ${t.msgsPerSec}× ${v.msgsPerSec >= t.msgsPerSec ? 'met' : 'NOT met'}; CPU ≤ ${t.totalCpu}× ${v.totalCpu <= t.totalCpu ? 'met' : 'NOT met'}`
            : '-',
        ];
      }),
    ),
  );
  for (const f of r.rows.filter((x) => x.floor)) {
    const peer = r.rows.find(
      (x) => x.engine === f.engine && x.sessions === f.sessions && !x.path.startsWith('hookgate'),
    );
    if (peer)
      console.log(
        `floor at ${f.sessions} sessions: hookgate's milter answering every message itself (no pipeline, queue, worker or ` +
          `engine) costs ${f.filterMs} ms/msg, ${round(f.filterMs / peer.filterMs)}× ${peer.path}'s whole filter (which scans)`,
      );
  }
  console.log(`peer rows: ${Math.round(r.wallMs / 1000)} s wall`);
}

/**
 * `BENCH_PEER_SESSIONS=8,40`, `BENCH_PEER_MESSAGES=1000`, `BENCH_PEER_ROUNDS=4`, `BENCH_PEER_WARMUP=200`,
 * `BENCH_PEER_ENGINES=clamav,rspamd`.
 */
export function peerOptionsFromEnv(
  env: NodeJS.ProcessEnv,
): Pick<PeerBenchOptions, 'sessions' | 'messages' | 'rounds' | 'warmupMessages' | 'engines'> {
  return {
    ...(env.BENCH_PEER_ENGINES ? { engines: env.BENCH_PEER_ENGINES.split(',') as Engine[] } : {}),
    ...(env.BENCH_PEER_SESSIONS ? { sessions: env.BENCH_PEER_SESSIONS.split(',').map(Number) } : {}),
    ...(env.BENCH_PEER_MESSAGES ? { messages: Number(env.BENCH_PEER_MESSAGES) } : {}),
    ...(env.BENCH_PEER_ROUNDS ? { rounds: Number(env.BENCH_PEER_ROUNDS) } : {}),
    ...(env.BENCH_PEER_WARMUP ? { warmupMessages: Number(env.BENCH_PEER_WARMUP) } : {}),
  };
}

// `node test/.bench-dist/bench/peers.js`: these rows on their own, with their own clamd and rspamd.
if (process.argv[1]?.endsWith('/bench/peers.js')) {
  const { startClamd } = await import('../support/daemons.js');
  const { startRspamd } = await import('../support/rspamd.js');
  const options = peerOptionsFromEnv(process.env);
  const withRspamd = options.engines?.includes('rspamd') ?? true;
  const [clamd, rspamd] = await Promise.all([
    startClamd(),
    withRspamd ? startRspamd({ milterProxy: true }) : undefined,
  ]);
  try {
    const r = await peersBench({ clamd, ...(rspamd ? { rspamd } : {}), ...options });
    printPeers(r);
    console.log(`BENCH ${JSON.stringify({ peers: r })}`);
  } finally {
    await Promise.all([clamd.stop(), rspamd?.stop()]);
  }
}
