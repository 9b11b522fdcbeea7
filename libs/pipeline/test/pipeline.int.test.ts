import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { noopScanner, type Scanner } from '@hookgate/scanner-sdk';
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
    endpoint: clamd.tcp, stages: ['data'], maxStreamBytes: 1 << 24, chunkBytes: 65536, action: 'reject',
    reply: { code: 550, enhanced: '5.7.1', text: 'Virus found: {virus}' }, header: { name: 'X-Virus-Scanned', value: 'hookgate' },
  });

async function stack(o: Parameters<typeof startStack>[0] extends infer T ? Omit<T & object, 'redisUrl'> : never): Promise<Stack> {
  const s = await startStack({ redisUrl: redis.url, ...o });
  stacks.push(s);
  return s;
}

const data = (sessionId: string, eml: string): [IncomingStage, Buffer] => {
  const bytes = Buffer.from(eml);
  return [
    { protocol: 'stalwart', stage: 'data', sessionId, client: { ip: '192.0.2.7' }, from: { address: 'a@example.org' }, to: [{ address: 'b@example.net' }], message: { size: bytes.length, storedBytes: bytes.length, lossy: false } },
    bytes,
  ];
};

describe('stage pipeline on real Redis and BullMQ', () => {
  it('fans out, waits for the worker, and accepts clean mail with the scanner header', async () => {
    const s = await stack({ routes: [{ id: 'clamav', stages: ['data'], policy: policy('clamav', true) }], workers: [clamav()] });
    const out = await s.pipeline.handle(...data('sess-clean', toEml(clean())));
    expect(out.verdict).toMatchObject({ action: 'accept', partial: false, modifications: [{ type: 'addHeader', name: 'X-Virus-Scanned' }] });
    await out.recorded;
    const record = await s.store.verdict('sess-clean', out.request.reqId);
    expect(record?.results.map((r) => r.scanner)).toEqual(['clamav']);
    expect(record?.txnId).toBe('sess-clean.1');
  });

  it('rejects a virus with the scanner reply', async () => {
    const s = await stack({ routes: [{ id: 'clamav', stages: ['data'], policy: policy('clamav', true) }], workers: [clamav()] });
    const out = await s.pipeline.handle(...data('sess-virus', toEml(eicarInline())));
    expect(out.verdict.action).toBe('reject');
    expect(out.verdict.reply?.text).toMatch(/^Virus found: Test\.EICAR/);
  });

  it('puts ids, never message bytes, in job data', async () => {
    const s = await stack({ routes: [{ id: 'nobody', stages: ['data'], policy: policy('nobody', false) }], budgetMs: 300 });
    const eml = toEml(clean({ subject: 'claim-check-marker' }));
    const out = await s.pipeline.handle(...data('sess-cc', eml));
    const q = new Queue(bullQueueName('nobody'), { connection: s.redis, prefix: s.prefix });
    const jobs = await q.getJobs(['waiting']);
    expect(jobs).toHaveLength(1);
    const json = JSON.stringify(jobs[0]!.data);
    expect(json).not.toContain('claim-check-marker');
    expect(jobs[0]!.data).toMatchObject({ v: 1, reqId: out.request.reqId, sessionId: 'sess-cc', scanner: 'nobody', stage: 'data' });
    expect(jobs[0]!.id).toBe(`${out.request.reqId}-nobody`);
    const stored = await s.store.loadRequest('sess-cc', out.request.reqId);
    expect(Buffer.from(stored!.message!).toString()).toBe(eml);
  });

  it('answers by the deadline with tempfail when a required scanner has no worker, accept when optional', async () => {
    const s = await stack({
      routes: [{ id: 'req', stages: ['mail'], policy: policy('req', true) }, { id: 'opt', stages: ['rcpt'], policy: policy('opt', false) }],
      budgetMs: 400,
    });
    const base = { protocol: 'stalwart' as const, sessionId: 'sess-missing', client: { ip: '192.0.2.7' } };
    const mail = await s.pipeline.handle({ ...base, stage: 'mail' });
    expect(mail.verdict).toMatchObject({ action: 'tempfail', partial: true, reasons: ['req:missing'] });
    expect(mail.verdict.reply).toMatchObject({ code: 451, enhanced: '4.7.1' });
    const rcpt = await s.pipeline.handle({ ...base, stage: 'rcpt' });
    expect(rcpt.verdict).toMatchObject({ action: 'accept', partial: true, reasons: ['opt:missing:fail-open'] });
    await mail.recorded;
    const record = await s.store.verdict('sess-missing', mail.request.reqId);
    expect(record!.answeredAt).toBeLessThanOrEqual(mail.request.deadlineAt);
  });

  it('decides early on a terminal result without waiting for slower scanners', async () => {
    const s = await stack({
      routes: [{ id: 'clamav', stages: ['data'], policy: policy('clamav', true) }, { id: 'slow', stages: ['data'], policy: policy('slow', false) }],
      workers: [clamav()],
      budgetMs: 20_000,
    });
    const out = await s.pipeline.handle(...data('sess-early', toEml(eicarInline())));
    expect(out.verdict).toMatchObject({ action: 'reject', partial: true, decidedBy: ['clamav'] });
    expect(Date.now()).toBeLessThan(out.request.deadlineAt);
  });

  it('never lets a late result flip an answer already given', async () => {
    const late: Scanner = { ...noopScanner({ id: 'late', stages: ['data'] }), scan: async () => ({ status: 'fail', category: 'virus', action: 'reject', names: ['X'] }) };
    const s = await stack({ routes: [{ id: 'late', stages: ['data'], policy: policy('late', false) }], budgetMs: 300 });
    const out = await s.pipeline.handle(...data('sess-late', toEml(clean())));
    expect(out.verdict.action).toBe('accept');
    await out.recorded;
    await expect.poll(() => Date.now() > out.request.deadlineAt).toBe(true);
    // The worker comes up after the deadline: it skips the expired job, and even a result recorded now changes nothing.
    const worker = await startStack({ redisUrl: redis.url, prefix: s.prefix, routes: [], workers: [late] });
    stacks.push(worker);
    await expect.poll(async () => (await s.store.results('sess-late', out.request.reqId)).length, { timeout: 10_000 }).toBe(1);
    const [r] = await s.store.results('sess-late', out.request.reqId);
    expect(r!.outcome).toMatchObject({ status: 'error', code: 'HOOKGATE_ERR_SCAN_TIMEOUT' });
    expect((await s.store.verdict('sess-late', out.request.reqId))!.verdict.action).toBe('accept');
    // A result that does land after the answer (a worker finishing between answer and deadline) is recorded only.
    await s.store.recordResult('sess-late', out.request.reqId, { ...r!, scanner: 'other', outcome: { status: 'fail', category: 'virus', action: 'reject', names: ['Y'] } });
    expect((await s.store.verdict('sess-late', out.request.reqId))!.verdict.action).toBe('accept');
  });

  it('answers by the deadline when Redis is down, applying each scanner policy', async () => {
    const s = await stack({ routes: [{ id: 'req', stages: ['data'], policy: policy('req', true) }], budgetMs: 500 });
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
    const v2 = await stack({ routes, workers: [counting], cache: { version: 'v2', ttlMs: 60_000 }, prefix: s.prefix });
    await v2.pipeline.handle(...data('sess-c3', eml));
    expect(scans).toBe(2);
  });
});
