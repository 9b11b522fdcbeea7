/**
 * The pieces of the multi-host test, each started inside a lab host (network namespace, see netns.ts): Redis with
 * AOF persistence, clamd, hookgate roles from the built executable, haproxy in front of the ingress replicas, and
 * an open-loop load generator of full Stalwart transactions that records every answer.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Agent, request } from 'node:http';
import { Redis } from 'ioredis';
import { tempDir, waitUntil } from './daemons.js';
import { HOOKGATE_BIN } from './processes.js';
import { ensureDebian, tcpOpen, type Host, type NsProcess } from './netns.js';
import { EICAR, clean, eicarInline } from './samples.js';
import { transaction } from './stalwart.js';

// ---------------------------------------------------------------------------------------------------------------
// Redis with persistence

export interface LabRedis {
  url: string;
  host: Host;
  dir: string;
  proc: NsProcess;
  /** A control connection from the root namespace (for assertions). */
  client(): Redis;
  /** SIGTERM: Redis flushes its AOF and exits; resolves with the exit code. */
  halt(): Promise<number | null>;
  /** Starts again on the same dir (loads the AOF), resolves once it answers PING. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

export async function startLabRedis(host: Host, password: string): Promise<LabRedis> {
  const dir = tempDir('mh-redis');
  const args = [
    '--bind',
    host.ip,
    '--port',
    '6379',
    '--requirepass',
    password,
    '--dir',
    dir,
    '--appendonly',
    'yes',
    '--appendfsync',
    'everysec',
    '--save',
    '',
    '--maxmemory-policy',
    'noeviction',
    '--loglevel',
    'warning',
    '--logfile',
    join(dir, 'redis.log'),
  ];
  const control = () => {
    const r = new Redis({
      host: host.ip,
      port: 6379,
      password,
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      retryStrategy: () => 200,
    });
    r.on('error', () => undefined);
    return r;
  };
  const ping = async () => {
    const r = new Redis({
      host: host.ip,
      port: 6379,
      password,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: 500,
    });
    r.on('error', () => undefined);
    try {
      await r.connect();
      // Loading the AOF answers -LOADING: not ready yet.
      return (await r.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      r.disconnect();
    }
  };
  const launch = async () => {
    const proc = await host.start('redis-server', args);
    await waitUntil(
      async () => {
        if (proc.child.exitCode !== null)
          throw new Error(`redis-server on ${host.name} exited ${proc.child.exitCode}`);
        return ping();
      },
      20_000,
      `redis on ${host.name}`,
    );
    return proc;
  };
  const r: LabRedis = {
    url: `redis://:${password}@${host.ip}:6379`,
    host,
    dir,
    proc: await launch(),
    client: control,
    halt: () => r.proc.stop('SIGTERM'),
    async resume() {
      r.proc = await launch();
    },
    async stop() {
      await r.proc.stop('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return r;
}

// ---------------------------------------------------------------------------------------------------------------
// clamd on a worker host

export interface LabClamd {
  endpoint: string;
  /** The clamd process id (it runs in the foreground of its `ip netns exec`). */
  pid(): number | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stops clamd and removes its directory (signatures, config, log). */
  remove(): Promise<void>;
}

/** clamd listening on the host's own address (a sidecar: it dies with its host), EICAR signatures only. */
export function labClamd(host: Host): LabClamd {
  const dir = tempDir(`mh-clamd-${host.name}`);
  const db = join(dir, 'db');
  mkdirSync(db, { recursive: true });
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const eicar = Buffer.from(EICAR, 'latin1');
  writeFileSync(join(db, 'test-eicar.ndb'), `Test.EICAR-Body:0:*:${eicar.toString('hex')}\n`);
  writeFileSync(
    join(db, 'test-eicar.hdb'),
    `${createHash('md5').update(eicar).digest('hex')}:${eicar.length}:Test.EICAR-MD5\n`,
  );
  const conf = join(dir, 'clamd.conf');
  writeFileSync(
    conf,
    [
      `DatabaseDirectory ${db}`,
      `TemporaryDirectory ${join(dir, 'tmp')}`,
      'TCPSocket 3310',
      `TCPAddr ${host.ip}`,
      `LogFile ${join(dir, 'clamd.log')}`,
      'Foreground yes',
      'SelfCheck 0',
      'MaxThreads 10',
      'ScanMail yes',
      '',
    ].join('\n'),
  );
  let proc: NsProcess | undefined;
  return {
    endpoint: `tcp://${host.ip}:3310`,
    pid: () => proc?.child.pid,
    async start() {
      proc = await host.start('clamd', ['-c', conf]);
      const p = proc;
      await waitUntil(
        () => {
          if (p.child.exitCode !== null) throw new Error(`clamd on ${host.name} exited: ${p.stderr()}`);
          return tcpOpen(host.ip, 3310);
        },
        20_000,
        `clamd on ${host.name}`,
      );
    },
    async stop() {
      await proc?.stop('SIGTERM');
    },
    async remove() {
      await proc?.stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// hookgate roles

/** Runs the built `hookgate` executable in a host; resolves when its startup lines say it is ready. */
export function startHookgateIn(host: Host, args: string[], env: Record<string, string>): Promise<NsProcess> {
  return host.start(process.execPath, [HOOKGATE_BIN, ...args], {
    env: { HOOKGATE_LOG_LEVEL: 'warn', ...env },
    ready: /hookgate: (listening on|scanner \S+: active, worker here)/,
  });
}

// ---------------------------------------------------------------------------------------------------------------
// haproxy

export interface LabBalancer {
  url: string;
  proc: NsProcess;
  /** Backend server states from the stats page: name → UP / DOWN / MAINT... */
  servers(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

/**
 * haproxy in its own host, health-checking `/readyz` every 200 ms. A request that finds its server refusing
 * connections, closing without an answer, or answering 503 (hookgate shutting down) is retried on the other
 * replica: the client never sees a replica restart.
 */
export async function startBalancer(
  host: Host,
  backends: { name: string; ip: string; port: number }[],
): Promise<LabBalancer> {
  ensureDebian('haproxy', 'haproxy');
  const dir = tempDir('mh-haproxy');
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(
    cfg,
    `
global
  maxconn 2000
  # Whole hook requests fit in one buffer, so a request can be replayed on another server (L7 retries).
  tune.bufsize 131072
defaults
  mode http
  timeout connect 1s
  timeout client 60s
  timeout server 30s
  timeout http-keep-alive 60s
  # One request per server connection: no request ever races a server closing an idle keep-alive connection.
  option http-server-close
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response 503
frontend hooks
  bind ${host.ip}:8080
  default_backend ingress
backend ingress
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 200 fastinter 100 downinter 200 fall 1 rise 2
${backends.map((b) => `  server ${b.name} ${b.ip}:${b.port} check`).join('\n')}
listen stats
  bind ${host.ip}:8404
  stats enable
  stats uri /stats
`,
  );
  const proc = await host.start('haproxy', ['-f', cfg, '-db']);
  const servers = async (): Promise<Record<string, string>> => {
    const res = await fetch(`http://${host.ip}:8404/stats;csv`);
    const out: Record<string, string> = {};
    for (const line of (await res.text()).split('\n')) {
      const f = line.split(',');
      if (f[0] === 'ingress' && f[1] !== 'FRONTEND' && f[1] !== 'BACKEND' && f[1]) out[f[1]] = f[17] ?? '';
    }
    return out;
  };
  await waitUntil(
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`haproxy exited: ${proc.stderr()}`);
      return (await tcpOpen(host.ip, 8404)) && Object.values(await servers()).every((s) => s === 'UP');
    },
    20_000,
    'haproxy with every backend UP',
  );
  return {
    url: `http://${host.ip}:8080`,
    proc,
    servers,
    async stop() {
      await proc.stop('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Load generator

export const LOAD_STAGES = ['connect', 'ehlo', 'mail', 'rcpt', 'data'] as const;
export type LoadStage = (typeof LOAD_STAGES)[number];

export interface Answer {
  /** Sequence number of the request (0-based, in send order). */
  seq: number;
  txn: number;
  stage: LoadStage;
  virus: boolean;
  /** Phase label at the time the request was sent. */
  phase: string;
  sentAt: number;
  ms: number;
  /** HTTP status, or undefined with `error` for a connection-level failure. */
  status?: number;
  action?: string;
  reply?: number;
  reason?: string;
  error?: string;
}

export interface LoadOptions {
  url: string;
  token: string;
  /** New transactions per second (open loop: started on schedule, whatever the answers' latency). */
  ratePerSec: number;
  /** One in `virusEvery` transactions carries EICAR. */
  virusEvery: number;
  /** Client port base: session ids are derived from it. */
  portBase: number;
}

/**
 * Starts full 5-stage transactions at a fixed rate through the balancer, stages in order within a transaction,
 * and records exactly one entry per request sent: its answer or its connection error.
 */
export class LoadGenerator {
  readonly answers: Answer[] = [];
  phase = 'start';
  #sent = 0;
  #txns = 0;
  #timer: NodeJS.Timeout | undefined;
  #running = new Set<Promise<void>>();
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 256 });

  constructor(readonly o: LoadOptions) {}

  get sent(): number {
    return this.#sent;
  }

  get transactions(): number {
    return this.#txns;
  }

  start(): void {
    const interval = 1000 / this.o.ratePerSec;
    const t0 = performance.now();
    const tick = () => {
      // Catch up on schedule (timer drift under CPU load) without bursts beyond what was due.
      const due = Math.floor((performance.now() - t0) / interval) + 1;
      while (this.#txns < due) this.#launch();
      this.#timer = setTimeout(tick, Math.max(1, interval / 2));
    };
    tick();
  }

  /** Stops starting transactions and waits until every started one has its answers. */
  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#running.size > 0) await Promise.all([...this.#running]);
    this.#agent.destroy();
  }

  #launch(): void {
    const txn = this.#txns++;
    const virus = txn % this.o.virusEvery === 0;
    const sample = virus
      ? eicarInline({ messageId: `mv${txn}` })
      : clean({ subject: `load ${txn}`, messageId: `mc${txn}` });
    const bodies = transaction({ clientIp: '203.0.113.50', clientPort: this.o.portBase + txn }, sample);
    const p = (async () => {
      for (const [i, body] of bodies.entries()) {
        const a = await this.#send(txn, LOAD_STAGES[i]!, virus, body);
        // A transaction stops where an MTA would: a connection error or a rejection ends the session.
        if (a.error || (a.action !== 'accept' && i < bodies.length - 1)) break;
      }
    })();
    this.#running.add(p);
    void p.finally(() => this.#running.delete(p));
  }

  #send(txn: number, stage: LoadStage, virus: boolean, body: unknown): Promise<Answer> {
    const payload = Buffer.from(JSON.stringify(body));
    const a: Answer = { seq: this.#sent++, txn, stage, virus, phase: this.phase, sentAt: Date.now(), ms: 0 };
    const t0 = performance.now();
    return new Promise<Answer>((resolve) => {
      const done = (extra: Partial<Answer>) => {
        Object.assign(a, extra, { ms: performance.now() - t0 });
        this.answers.push(a);
        resolve(a);
      };
      const req = request(
        `${this.o.url}/hooks/stalwart`,
        {
          method: 'POST',
          agent: this.#agent,
          headers: {
            'content-type': 'application/json',
            'content-length': payload.length,
            authorization: `Bearer ${this.o.token}`,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => done({ error: `response: ${err.message}` }));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let parsed: { action?: string; response?: { status?: number } } = {};
            try {
              parsed = JSON.parse(text) as typeof parsed;
            } catch {
              // not JSON: recorded by status
            }
            done({
              status: res.statusCode ?? 0,
              ...(parsed.action ? { action: parsed.action } : {}),
              ...(parsed.response?.status ? { reply: parsed.response.status } : {}),
              reason: String(res.headers['x-hookgate-reason'] ?? ''),
            });
          });
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => done({ error: err.code ?? err.message }));
      req.end(payload);
    });
  }
}

/** Percentile of a list of numbers (nearest rank). */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
