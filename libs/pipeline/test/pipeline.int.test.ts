import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { EngineUnavailableError, noopScanner, type Scanner } from '@hookgate/scanner-sdk';
import { clamavScanner } from '@hookgate/scanner-av';
import { bullQueueName } from '@hookgate/queue';
import type { IncomingStage } from '@hookgate/pipeline';
import { startRedis, startClamd, type RedisDaemon, type ClamdDaemon } from '../../../test/support/daemons.js';
import { startStack, policy, type Stack } from '../../../test/support/stack.js';
import { clean, eicarInline, toEml } from '../../../test/support/samples.js';

let redis: RedisDaemon;
let clamd: ClamdDaemon;
const stacks: Stack[] = [];

beforeAll(async () => {
  [redis, clamd] = await Promise.all([startRedis(), startClamd()]);
});
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await Promise.all([redis?.stop(), clamd?.stop()]);
});

const clamav = () =>
  clamavScanner({
    endpoint: clamd.tcp,
    stages: ['data'],
    maxStreamBytes: 1 << 24,
    chunkBytes: 65536,
    action: 'reject',
    reply: { code: 550, enhanced: '5.7.1', text: 'Virus found: {virus}' },
    header: { name: 'X-Virus-Scanned', value: 'hookgate' },
  });

async function stack(
  o: Parameters<typeof startStack>[0] extends infer T ? Omit<T & object, 'redisUrl'> : never,
): Promise<Stack> {
  const s = await startStack({ redisUrl: redis.url, ...o });
  stacks.push(s);
  return s;
}

const data = (sessionId: string, eml: string): [IncomingStage, Buffer] => {
  const bytes = Buffer.from(eml);
  return [
    {
      protocol: 'stalwart',
      stage: 'data',
      sessionId,
      client: { ip: '192.0.2.7' },
      from: { address: 'a@example.org' },
      to: [{ address: 'b@example.net' }],
      message: { size: bytes.length, storedBytes: bytes.length, lossy: false },
    },
    bytes,
  ];
};

describe('stage pipeline on real Redis and BullMQ', () => {
  it('fans out, waits for the worker, and accepts clean mail with the scanner header', async () => {
    const s = await stack({
      routes: [{ id: 'clamav', stages: ['data'], policy: policy('clamav', true) }],
      workers: [clamav()],
    });
    const out = await s.pipeline.handle(...data('sess-clean', toEml(clean())));
    expect(out.verdict).toMatchObject({
      action: 'accept',
      partial: false,
      modifications: [{ type: 'addHeader', name: 'X-Virus-Scanned' }],
    });
    await out.recorded;
    const record = await s.store.verdict('sess-clean', out.request.reqId);
    expect(record?.results.map((r) => r.scanner)).toEqual(['clamav']);
    expect(record?.txnId).toBe('sess-clean.1');
  });

  it('rejects a virus with the scanner reply', async () => {
    const s = await stack({
      routes: [{ id: 'clamav', stages: ['data'], policy: policy('clamav', true) }],
      workers: [clamav()],
    });
    const out = await s.pipeline.handle(...data('sess-virus', toEml(eicarInline())));
    expect(out.verdict.action).toBe('reject');
    expect(out.verdict.reply?.text).toMatch(/^Virus found: Test\.EICAR/);
  });

  it('puts ids, never message bytes, in job data; the bytes leave Redis once the stage is decided', async () => {
    const s = await stack({
      routes: [{ id: 'nobody', stages: ['data'], policy: policy('nobody', false) }],
      budgetMs: 1000,
    });
    const eml = toEml(clean({ subject: 'claim-check-marker' }));
    const handled = s.pipeline.handle(...data('sess-cc', eml));
    const q = new Queue(bullQueueName('nobody'), { connection: s.redis, prefix: s.prefix });
    await expect.poll(async () => (await q.getJobs(['waiting'])).length).toBe(1);
    const [job] = await q.getJobs(['waiting']);
    const json = JSON.stringify(job!.data);
    expect(json).not.toContain('claim-check-marker');
    expect(job!.data).toMatchObject({ v: 1, sessionId: 'sess-cc', scanner: 'nobody', stage: 'data' });
    // While the scan is in flight the worker would find the bytes, stored once, next to the request.
    const inFlight = await s.store.loadRequest('sess-cc', job!.data.reqId);
    expect(Buffer.from(inFlight!.message!).toString()).toBe(eml);
    const out = await handled;
    expect(job!.id).toBe(`${out.request.reqId}-nobody`);
    await out.recorded;
    // Decided at the deadline: nobody can still use the bytes, so they are gone; the request record stays.
    const after = await s.store.loadRequest('sess-cc', out.request.reqId);
    expect(after!.message).toBeUndefined();
  });

  it('answers by the deadline with tempfail when a required scanner has no worker, accept when optional', async () => {
    const s = await stack({
      routes: [
        { id: 'req', stages: ['mail'], policy: policy('req', true) },
        { id: 'opt', stages: ['rcpt'], policy: policy('opt', false) },
      ],
      budgetMs: 400,
    });
    const base = { protocol: 'stalwart' as const, sessionId: 'sess-missing', client: { ip: '192.0.2.7' } };
    const mail = await s.pipeline.handle({ ...base, stage: 'mail' });
    expect(mail.verdict).toMatchObject({ action: 'tempfail', partial: true, reasons: ['req:missing'] });
    expect(mail.verdict.reply).toMatchObject({ code: 451, enhanced: '4.7.1' });
    const rcpt = await s.pipeline.handle({ ...base, stage: 'rcpt' });
    expect(rcpt.verdict).toMatchObject({
      action: 'accept',
      partial: true,
      reasons: ['opt:missing:fail-open'],
    });
    await mail.recorded;
    const record = await s.store.verdict('sess-missing', mail.request.reqId);
    expect(record!.answeredAt).toBeLessThanOrEqual(mail.request.deadlineAt);
  });

  it('decides early on a terminal result without waiting for slower scanners', async () => {
    const s = await stack({
      routes: [
        { id: 'clamav', stages: ['data'], policy: policy('clamav', true) },
        { id: 'slow', stages: ['data'], policy: policy('slow', false) },
      ],
      workers: [clamav()],
      budgetMs: 20_000,
    });
    const out = await s.pipeline.handle(...data('sess-early', toEml(eicarInline())));
    expect(out.verdict).toMatchObject({ action: 'reject', partial: true, decidedBy: ['clamav'] });
    expect(Date.now()).toBeLessThan(out.request.deadlineAt);
  });

  it('never lets a late result flip an answer already given', async () => {
    const late: Scanner = {
      ...noopScanner({ id: 'late', stages: ['data'] }),
      scan: async () => ({ status: 'fail', category: 'virus', action: 'reject', names: ['X'] }),
    };
    const s = await stack({
      routes: [{ id: 'late', stages: ['data'], policy: policy('late', false) }],
      budgetMs: 300,
    });
    const out = await s.pipeline.handle(...data('sess-late', toEml(clean())));
    expect(out.verdict.action).toBe('accept');
    await out.recorded;
    await expect.poll(() => Date.now() > out.request.deadlineAt).toBe(true);
    // The worker comes up after the deadline: it skips the expired job, and even a result recorded now changes nothing.
    const worker = await startStack({ redisUrl: redis.url, prefix: s.prefix, routes: [], workers: [late] });
    stacks.push(worker);
    await expect
      .poll(async () => (await s.store.results('sess-late', out.request.reqId)).length, { timeout: 10_000 })
      .toBe(1);
    const [r] = await s.store.results('sess-late', out.request.reqId);
    expect(r!.outcome).toMatchObject({ status: 'error', code: 'HOOKGATE_ERR_SCAN_TIMEOUT' });
    expect((await s.store.verdict('sess-late', out.request.reqId))!.verdict.action).toBe('accept');
    // A result that does land after the answer (a worker finishing between answer and deadline) is recorded only.
    await s.store.recordResult('sess-late', out.request.reqId, {
      ...r!,
      scanner: 'other',
      outcome: { status: 'fail', category: 'virus', action: 'reject', names: ['Y'] },
    });
    expect((await s.store.verdict('sess-late', out.request.reqId))!.verdict.action).toBe('accept');
  });

  it('answers by the deadline when Redis is down, applying each scanner policy', async () => {
    const s = await stack({
      routes: [{ id: 'req', stages: ['data'], policy: policy('req', true) }],
      budgetMs: 500,
    });
    await redis.pause();
    try {
      const started = Date.now();
      const out = await s.pipeline.handle(...data('sess-down', toEml(clean())));
      expect(out.verdict).toMatchObject({ action: 'tempfail', partial: true });
      expect(Date.now() - started).toBeLessThan(500 + 250);
    } finally {
      await redis.restart();
    }
  });
});

describe('result cache', () => {
  it('does not rescan the same message in another transaction; a changed configuration never reuses results', async () => {
    let scans = 0;
    const inner = clamav();
    const counting: Scanner = { ...inner, scan: async (i, c) => (scans++, inner.scan(i, c)) };
    const routes = [{ id: 'clamav', stages: ['data' as const], policy: policy('clamav', true) }];
    const s = await stack({ routes, workers: [counting], cache: { version: 'v1', ttlMs: 60_000 } });
    const eml = toEml(eicarInline());
    const first = await s.pipeline.handle(...data('sess-c1', eml));
    const second = await s.pipeline.handle(...data('sess-c2', eml));
    expect([first.verdict.action, second.verdict.action]).toEqual(['reject', 'reject']);
    expect(scans).toBe(1);
    await second.recorded;
    expect((await s.store.verdict('sess-c2', second.request.reqId))!.results[0]!.cached).toBe(true);
    await s.close();
    stacks.splice(stacks.indexOf(s), 1);
    const v2 = await stack({
      routes,
      workers: [counting],
      cache: { version: 'v2', ttlMs: 60_000 },
      prefix: s.prefix,
    });
    await v2.pipeline.handle(...data('sess-c3', eml));
    expect(scans).toBe(2);
  });
});

describe('what the pipeline does not do (issues 11 and 12)', () => {
  it('answers a stage where nothing is checked from memory: no Redis call, no record, no transaction id', async () => {
    const s = await stack({
      routes: [{ id: 'clamav', stages: ['data'], policy: policy('clamav', true) }],
      workers: [clamav()],
    });
    await redis.pause();
    try {
      const out = await s.pipeline.handle({
        protocol: 'stalwart',
        stage: 'ehlo',
        sessionId: 'sess-quiet',
        client: { ip: '192.0.2.7', helo: 'mx.example.org' },
      });
      // With Redis down, a stage that touched it would be decided degraded (partial); this one is a plain accept.
      expect(out.verdict).toMatchObject({ action: 'accept', partial: false, decidedBy: ['policy'] });
      expect(out.request.txnId).toBe('');
    } finally {
      await redis.restart();
    }
    // (The client reconnects after the restart.)
    await expect.poll(() => s.redis.keys(`${s.prefix}:{sess-quiet}*`).catch(() => null)).toEqual([]);
  });

  it('decides a pool with no live worker at once by its failure policy, and uses a worker as soon as one appears', async () => {
    const routes = [{ id: 'clamav', stages: ['data' as const], policy: policy('clamav', true) }];
    const s = await stack({ routes, watchPools: true, budgetMs: 20_000 });
    const out = await s.pipeline.handle(...data('sess-nopool', toEml(clean())));
    expect(out.verdict).toMatchObject({
      action: 'tempfail',
      partial: true,
      reasons: ['clamav:missing:no-workers'],
    });
    // Decided without waiting for the 20 s deadline, and nothing was queued to a pool nobody consumes.
    expect(Date.now()).toBeLessThan(out.request.deadlineAt - 10_000);
    const q = new Queue(bullQueueName('clamav'), { connection: s.redis, prefix: s.prefix });
    expect(await q.count()).toBe(0);
    await out.recorded;
    expect((await s.store.verdict('sess-nopool', out.request.reqId))!.verdict.reasons).toEqual([
      'clamav:missing:no-workers',
    ]);

    // A worker process joins the pool: its announcement makes the ingress use it again.
    const worker = await stack({ routes: [], workers: [clamav()], prefix: s.prefix });
    await expect.poll(() => s.pools!.isLive('clamav')).toBe(true);
    const again = await s.pipeline.handle(...data('sess-pool', toEml(clean())));
    expect(again.verdict).toMatchObject({ action: 'accept', partial: false });
    expect(again.verdict.reasons).toEqual([]);
    // It leaves on shutdown: the pool is empty again at once, not after the heartbeat expires.
    await worker.close();
    stacks.splice(stacks.indexOf(worker), 1);
    await expect.poll(() => s.pools!.isLive('clamav')).toBe(false);
  });

  it('answers tempfail at once, storing nothing, for a caller over its in-flight byte budget; the budget frees when the bytes leave', async () => {
    const routes = [{ id: 'nobody', stages: ['data' as const], policy: policy('nobody', false) }];
    const s = await stack({ routes, budgetMs: 800, budget: { totalBytes: 100_000, perCallerBytes: 50_000 } });
    const msg = (subject: string) => toEml({ ...clean({ subject }), body: 'x'.repeat(40_000) });
    const withCaller = (sid: string, caller: string, subject: string): [IncomingStage, Buffer] => {
      const [incoming, bytes] = data(sid, msg(subject));
      return [{ ...incoming, caller }, bytes];
    };
    const a1 = s.pipeline.handle(...withCaller('sess-b1', 'A', 'a1'));
    const b1 = s.pipeline.handle(...withCaller('sess-b2', 'B', 'b1'));
    const a2 = await s.pipeline.handle(...withCaller('sess-b3', 'A', 'a2'));
    expect(a2.verdict).toMatchObject({
      action: 'tempfail',
      reasons: ['budget:caller'],
      reply: { code: 451, enhanced: '4.3.1' },
    });
    const c1 = await s.pipeline.handle(...withCaller('sess-b4', 'C', 'c1'));
    expect(c1.verdict).toMatchObject({ action: 'tempfail', reasons: ['budget:total'] });
    expect(await s.redis.keys(`${s.prefix}:{sess-b3}*`)).toEqual([]);
    expect(await s.redis.keys(`${s.prefix}:{sess-b4}*`)).toEqual([]);
    // Both in-flight stages end at their deadline; their bytes leave Redis, and the callers may send again.
    for (const o of await Promise.all([a1, b1])) await o.recorded;
    const a3 = await s.pipeline.handle(...withCaller('sess-b5', 'A', 'a3'));
    expect(a3.verdict.reasons).toEqual(['nobody:missing:fail-open']);
  });
});

describe('one scan runner for every host (issue 14)', () => {
  const failing = (id: string, behaviour: 'unreachable' | 'bug' | 'slow'): Scanner => ({
    ...noopScanner({ id, stages: ['data'] }),
    scan: async (_input, ctx) => {
      if (behaviour === 'unreachable') throw new EngineUnavailableError('connect ECONNREFUSED 127.0.0.1:1');
      if (behaviour === 'bug') throw new TypeError('cannot read properties of undefined');
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
      throw new Error('aborted');
    },
  });

  for (const behaviour of ['unreachable', 'bug', 'slow'] as const) {
    it(`a scanner that is ${behaviour} gives the same result inline and queued`, async () => {
      const id = `f-${behaviour}`;
      const route = { id, stages: ['data' as const], policy: policy(id, true) };
      const inline = await stack({
        routes: [],
        inline: [{ route, scanner: failing(id, behaviour) }],
        budgetMs: 1500,
      });
      const queued = await stack({ routes: [route], workers: [failing(id, behaviour)], budgetMs: 1500 });
      const a = await inline.pipeline.handle(...data(`sess-in-${behaviour}`, toEml(clean())));
      const b = await queued.pipeline.handle(...data(`sess-q-${behaviour}`, toEml(clean())));
      await Promise.all([a.recorded, b.recorded]);
      const outcome = async (s: Stack, o: typeof a) =>
        (await s.store.verdict(o.request.sessionId, o.request.reqId))?.results.find((r) => r.scanner === id)
          ?.outcome;
      const [inlineOutcome, queuedOutcome] = [await outcome(inline, a), await outcome(queued, b)];
      const expected = {
        unreachable: { code: 'HOOKGATE_ERR_SCAN_ENGINE_UNAVAILABLE', retryable: true },
        bug: { code: 'HOOKGATE_ERR_SCAN_FAILED', retryable: false },
        slow: { code: 'HOOKGATE_ERR_SCAN_TIMEOUT', retryable: true },
      }[behaviour];
      expect(queuedOutcome).toMatchObject({ status: 'error', ...expected });
      expect(inlineOutcome).toEqual(queuedOutcome);
      expect(a.verdict).toMatchObject({
        action: b.verdict.action,
        reasons: b.verdict.reasons,
        partial: false,
      });
    });
  }
});
