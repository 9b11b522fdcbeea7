/**
 * The suite's core flows through the built `hookgate` executable, for any Redis deployment: two ingress and two
 * worker processes (clamav + the built-in DLP) around a private clamd, driven over HTTP as Stalwart calls them.
 * The Redis topology tests (Cluster, Sentinel) run these same flows; only the Redis settings differ.
 */
import { expect } from 'vitest';
import { freePort, startClamd, type ClamdDaemon } from './daemons.js';
import { startHookgate, writeConfig, type HookgateProcess } from './processes.js';
import { stalwartRequest, transaction, type Session } from './stalwart.js';
import { clean, eicarInline, type Sample } from './samples.js';

export const MTA_TOKEN = 'mta-token-0123456789abcdefgh';
export const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
/** Stage deadlines of the core-flow config, ms. */
export const DEADLINE_MS = { connect: 2000, ehlo: 2000, mail: 2000, rcpt: 2000, data: 3000 } as const;
export const GREY_DELAY_MS = 1000;

export interface RedisSelection {
  /** Environment for the ingress processes (HOOKGATE_REDIS_CLUSTER, or _SENTINELS + _SENTINEL_NAME). */
  env: Record<string, string>;
  /** The same deployment as config-file YAML under `redis:` for the worker processes (e.g. `cluster: [a, b]`). */
  yaml: string;
}

export interface CoreStack {
  prefix: string;
  clamd: ClamdDaemon;
  ingresses: HookgateProcess[];
  workers: HookgateProcess[];
  /** Every process's output so far (for CROSSSLOT / error greps). */
  output(): string;
  /** SIGTERM to every process; resolves with their exit codes. */
  stop(): Promise<(number | null)[]>;
}

/**
 * Starts clamd, two `hookgate worker --scanners clamav,dlp` processes (Redis from the config file) and two
 * `hookgate ingress` processes (Redis from the environment). Greylisting and rate limits are active and applied
 * by policy to clients in 192.0.2.0/24 only, so other flows are not deferred.
 */
export async function startCoreStack(
  redis: RedisSelection,
  prefix: string,
  options: { queueShards?: number } = {},
): Promise<CoreStack> {
  const clamd = await startClamd();
  const procs: HookgateProcess[] = [];
  const stop = async () => {
    const codes = await Promise.all(procs.map((p) => p.stop()));
    await clamd.stop();
    return codes;
  };
  try {
    const base = `
redis: { prefix: ${prefix} }
debug: { reasonHeader: true }
stages:
  deadlineMs: { connect: ${DEADLINE_MS.connect}, ehlo: ${DEADLINE_MS.ehlo}, auth: 2000, mail: ${DEADLINE_MS.mail}, rcpt: ${DEADLINE_MS.rcpt}, data: ${DEADLINE_MS.data}, delivery: 3000, defer: 3000, dsn: 3000 }
  mtaTimeoutMs: 6000
  marginMs: 2000
  stateTtlMs: 120000
scanners:
  greylist: { enabled: true, delayMs: ${GREY_DELAY_MS} }
  ratelimit: { enabled: true, limits: [{ key: clientIp, max: 3, windowSec: 3600 }] }
  clamav: { queueShards: ${options.queueShards ?? 1} }
  dlp: { queueShards: ${options.queueShards ?? 1} }
policies:
  default: { scanners: { greylist: { enabled: false }, ratelimit: { enabled: false } } }
  checked: {}
rules:
  - { name: checked-clients, match: { clientNetworks: [192.0.2.0/24] }, policy: checked }
`;
    const ingressCfg = writeConfig(base);
    const workerCfg = writeConfig(
      base.replace(`redis: { prefix: ${prefix} }`, `redis: { prefix: ${prefix}, ${redis.yaml} }`),
    );
    const common = {
      HOOKGATE_CLAMD: clamd.tcp,
      HOOKGATE_AUTH_TOKENS: `stalwart=${MTA_TOKEN}`,
      HOOKGATE_ADMIN_TOKENS: `ops=${ADMIN_TOKEN}`,
    };
    const workers: HookgateProcess[] = [];
    for (let i = 0; i < 2; i++) {
      const w = await startHookgate(['worker', '--scanners', 'clamav,dlp'], {
        ...common,
        HOOKGATE_CONFIG: workerCfg,
        HOOKGATE_METRICS_LISTEN: `127.0.0.1:${await freePort()}`,
      });
      procs.push(w);
      workers.push(w);
    }
    const ingresses: HookgateProcess[] = [];
    for (let i = 0; i < 2; i++) {
      const p = await startHookgate(['ingress'], {
        ...common,
        ...redis.env,
        HOOKGATE_CONFIG: ingressCfg,
        HOOKGATE_LISTEN: `127.0.0.1:${await freePort()}`,
      });
      procs.push(p);
      ingresses.push(p);
    }
    return {
      prefix,
      clamd,
      ingresses,
      workers,
      output: () => procs.map((p) => p.stderr() + p.stdout()).join('\n'),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface HookAnswer {
  status: number;
  body: { action?: string; response?: { status?: number; message?: string }; modifications?: unknown[] };
  reason: string;
  txnId: string;
  ms: number;
}

/** One Stalwart hook call with the MTA's credentials. */
export async function call(p: HookgateProcess, body: unknown): Promise<HookAnswer> {
  const t0 = performance.now();
  const res = await fetch(`${p.url}/hooks/stalwart`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${MTA_TOKEN}` },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: text ? (JSON.parse(text) as HookAnswer['body']) : {},
    reason: res.headers.get('x-hookgate-reason') ?? '',
    txnId: res.headers.get('x-hookgate-transaction-id') ?? '',
    ms: performance.now() - t0,
  };
}

/** A full 5-stage transaction (connect, ehlo, mail, rcpt, data), stages alternating over `via`. */
export async function fullTransaction(
  via: HookgateProcess[],
  session: Session,
  sample: Sample,
): Promise<HookAnswer[]> {
  const out: HookAnswer[] = [];
  for (const [i, body] of transaction(session, sample).entries())
    out.push(await call(via[i % via.length]!, body));
  return out;
}

/**
 * A real verdict: decided by the scanners' results, not by a deadline or an outage. A virus is terminal, so a
 * clamav reject may come before the DLP result (`partial`) and is still real.
 */
export function isRealVerdict(a: HookAnswer): boolean {
  if (a.status !== 200 || /(missing|timeout|error)/.test(a.reason)) return false;
  return !/; partial/.test(a.reason) || /^reject; by=clamav;.*reasons=clamav:virus:/.test(a.reason);
}

/** Where a transaction of a failover test belongs: before, across (it ran while the topology changed), after. */
export type LoadPhase = 'before' | 'failover' | 'after';

const FLOW_STAGES = ['connect', 'ehlo', 'mail', 'rcpt', 'data'] as const;

/**
 * Load across a failover: three clients in closed loops, full transactions, one in four with EICAR, until `stop()`.
 * A transaction belongs to the phase it started in, or to `failover` when the phase changed while it ran. `check`
 * sees every transaction as it completes (an assertion there fails the loop, and so `stop()`).
 */
export function loadAcrossFailover(
  stack: CoreStack,
  o: { clientIp: string; portBase: number; tag: string; check?: (t: HookAnswer[], virus: boolean) => void },
) {
  const answers: { stage: string; a: HookAnswer; phase: LoadPhase; virus: boolean }[] = [];
  const afterTxns: HookAnswer[][] = [];
  let phase: LoadPhase = 'before';
  let n = 0;
  let stopped = false;
  const client = async (c: number) => {
    while (!stopped) {
      const i = n++;
      const virus = i % 4 === 0;
      const sample = virus
        ? eicarInline({ messageId: `${o.tag}v${i}` })
        : clean({ subject: `${o.tag} ${i}`, messageId: `${o.tag}c${i}` });
      const at = phase;
      const t = await fullTransaction(
        stack.ingresses,
        { clientIp: o.clientIp, clientPort: o.portBase + c * 1000 + i },
        sample,
      );
      const tagged: LoadPhase = at !== phase ? 'failover' : at;
      t.forEach((a, s) => answers.push({ stage: FLOW_STAGES[s]!, a, phase: tagged, virus }));
      if (tagged === 'after') afterTxns.push(t);
      o.check?.(t, virus);
    }
  };
  const clients = [0, 1, 2].map(client);
  return {
    answers,
    afterTxns,
    enter(next: LoadPhase): void {
      phase = next;
    },
    async stop(): Promise<void> {
      stopped = true;
      await Promise.all(clients);
    },
  };
}

export interface AdminRecord {
  stages: {
    stage: string;
    record: {
      verdict: { action: string; decidedBy: string[]; partial: boolean };
      results: { scanner: string; cached?: boolean; outcome: { status: string } }[];
    } | null;
  }[];
}

export async function adminRecord(
  p: HookgateProcess,
  txnId: string,
): Promise<{ status: number; body: AdminRecord }> {
  const res = await fetch(`${p.url}/admin/transactions/${txnId}`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  return { status: res.status, body: (await res.json()) as AdminRecord };
}

/**
 * Flow 1: full transactions, clean and EICAR, every stage alternating between the two ingress processes.
 * Results come from the worker processes through the reply channel of whichever ingress waits.
 * Returns the session ids' client ports used, for key-placement checks.
 */
export async function flowTransactions(
  stack: CoreStack,
  count: number,
  portBase: number,
): Promise<HookAnswer[][]> {
  const all: HookAnswer[][] = [];
  for (let i = 0; i < count; i++) {
    const virus = i % 3 === 0;
    const sample = virus
      ? eicarInline({ messageId: `v${portBase + i}` })
      : clean({ subject: `notes ${portBase + i}`, messageId: `c${portBase + i}` });
    const answers = await fullTransaction(
      stack.ingresses,
      { clientIp: '203.0.113.45', clientPort: portBase + i },
      sample,
    );
    for (const a of answers.slice(0, 4)) expect(a.body).toEqual({ action: 'accept' });
    const data = answers[4]!;
    if (virus) {
      expect(data.body).toMatchObject({
        action: 'reject',
        response: { status: 550, message: expect.stringMatching(/^Virus found: Test\.EICAR/) },
      });
      expect(data.reason).toMatch(/^reject; by=clamav;/);
    } else {
      expect(data.body).toEqual({
        action: 'accept',
        modifications: [{ type: 'addHeader', name: 'X-Virus-Scanned', value: 'hookgate (ClamAV)' }],
      });
    }
    expect(isRealVerdict(data), data.reason).toBe(true);
    all.push(answers);
  }
  return all;
}

/** Flow 2: the admin API returns the record of a transaction answered by both ingress processes. */
export async function flowAdminRecord(stack: CoreStack, answers: HookAnswer[]): Promise<void> {
  const txnId = answers[4]!.txnId;
  expect(txnId).toMatch(/\.1$/);
  for (const p of stack.ingresses) {
    const { status, body } = await adminRecord(p, txnId);
    expect(status).toBe(200);
    // Only stages where something was checked are recorded (issue 12); greylisting and rate limits are off for
    // this client, so that is data alone.
    expect(body.stages.map((s) => s.stage)).toEqual(['data']);
    const data = body.stages[0]!.record!;
    expect(data.verdict.partial).toBe(false);
    expect(data.results.map((r) => r.scanner).sort()).toEqual(['clamav', 'dlp']);
  }
}

/** Flow 3: greylisting holds across both ingress processes: deferred until the delay passed, then accepted. */
export async function flowGreylist(stack: CoreStack, clientPort: number): Promise<void> {
  const [a, b] = stack.ingresses as [HookgateProcess, HookgateProcess];
  const session: Session = {
    clientIp: '192.0.2.7',
    clientPort,
    from: `news${clientPort}@sender.example`,
    rcpts: ['bob@example.net'],
  };
  const t0 = Date.now();
  const first = await call(a, stalwartRequest('rcpt', session));
  expect(first.body).toMatchObject({
    action: 'reject',
    response: { status: 451, message: expect.stringMatching(/^Greylisted/) },
  });
  expect((await call(b, stalwartRequest('rcpt', session))).body).toMatchObject({ response: { status: 451 } });
  let n = 0;
  await expect
    .poll(async () => (await call(n++ % 2 ? a : b, stalwartRequest('rcpt', session))).body.action, {
      timeout: 15_000,
      interval: 200,
    })
    .toBe('accept');
  expect(Date.now() - t0).toBeGreaterThanOrEqual(GREY_DELAY_MS - 100);
}

/** Flow 4: a rate limit counts MAIL commands of one client IP on both ingress processes. */
export async function flowRateLimit(stack: CoreStack, clientIp: string, portBase: number): Promise<void> {
  const answers = [];
  for (let i = 0; i < 4; i++)
    answers.push(
      (await call(stack.ingresses[i % 2]!, stalwartRequest('mail', { clientIp, clientPort: portBase + i })))
        .body,
    );
  expect(answers.slice(0, 3)).toEqual([{ action: 'accept' }, { action: 'accept' }, { action: 'accept' }]);
  expect(answers[3]).toMatchObject({
    action: 'reject',
    response: { status: 451, message: 'Rate limit exceeded (clientIp), try again later' },
  });
}

/** Flow 5: the same message in two transactions: the second clamav result comes from the result cache. */
export async function flowResultCache(stack: CoreStack, portBase: number): Promise<void> {
  const sample = clean({ subject: `cached ${portBase}`, messageId: `cache${portBase}` });
  const first = await fullTransaction(stack.ingresses, { clientPort: portBase }, sample);
  const second = await fullTransaction(stack.ingresses, { clientPort: portBase + 1 }, sample);
  for (const t of [first, second]) expect(t[4]!.body.action).toBe('accept');
  const rec = async (answers: HookAnswer[]) =>
    (await adminRecord(stack.ingresses[0]!, answers[4]!.txnId)).body.stages.find((s) => s.stage === 'data')!
      .record!;
  const clamav = (r: Awaited<ReturnType<typeof rec>>) => r.results.find((x) => x.scanner === 'clamav')!;
  expect(clamav(await rec(first)).cached).toBeUndefined();
  expect(clamav(await rec(second))).toMatchObject({ cached: true, outcome: { status: 'pass' } });
}
