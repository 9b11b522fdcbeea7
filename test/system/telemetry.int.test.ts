/**
 * Observability across processes: one trace per stage request from the MTA's traceparent through the ingress,
 * the queue, a worker process and the scanner; Prometheus series on every process; log lines that carry the
 * transaction and trace ids.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startRedis, startClamd, freePort, type RedisDaemon, type ClamdDaemon } from '../support/daemons.js';
import { startHookgate, writeConfig, type HookgateProcess } from '../support/processes.js';
import { startOtlpSink, type CollectedSpan } from '../support/otlp-sink.js';
import { stalwartRequest } from '../support/stalwart.js';
import { clean } from '../support/samples.js';

let redis: RedisDaemon;
let clamd: ClamdDaemon;
let sink: Awaited<ReturnType<typeof startOtlpSink>>;
let ingress: HookgateProcess;
let worker: HookgateProcess;
let workerMetrics: string;

beforeAll(async () => {
  [redis, clamd, sink] = await Promise.all([startRedis(), startClamd(), startOtlpSink()]);
  const env = {
    HOOKGATE_CONFIG: writeConfig(
      `redis: { prefix: tel${process.pid} }\nscanners: { dlp: { enabled: false } }\n`,
    ),
    HOOKGATE_REDIS_URL: redis.url,
    HOOKGATE_CLAMD: clamd.tcp,
    HOOKGATE_LOG_LEVEL: 'info',
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
    OTEL_BSP_SCHEDULE_DELAY: '50',
    OTEL_METRIC_EXPORT_INTERVAL: '60000',
  };
  workerMetrics = `127.0.0.1:${await freePort()}`;
  worker = await startHookgate(['worker', '--scanners', 'clamav'], {
    ...env,
    HOOKGATE_METRICS_LISTEN: workerMetrics,
    OTEL_SERVICE_NAME: 'hookgate-worker',
  });
  ingress = await startHookgate(['ingress'], {
    ...env,
    HOOKGATE_LISTEN: `127.0.0.1:${await freePort()}`,
    OTEL_SERVICE_NAME: 'hookgate-ingress',
  });
});
afterAll(async () => {
  await Promise.all([ingress?.stop(), worker?.stop()]);
  await Promise.all([redis?.stop(), clamd?.stop(), sink?.stop()]);
});

describe('one trace per stage request, across ingress and worker processes', () => {
  it('continues the MTA traceparent and builds the full parent/child tree', async () => {
    const traceId = randomBytes(16).toString('hex');
    const mtaSpan = randomBytes(8).toString('hex');
    const res = await fetch(`${ingress.url}/hooks/stalwart`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${mtaSpan}-01` },
      body: JSON.stringify(stalwartRequest('data', { from: 'alice@example.org' }, clean())),
    });
    expect(((await res.json()) as { action: string }).action).toBe('accept');

    const names = [
      'hookgate.request',
      'hookgate.stage',
      'hookgate.store.begin_stage',
      'hookgate.fanout',
      'hookgate.scan.job',
      'hookgate.store.load',
      'hookgate.scan.engine',
      'hookgate.store.record_result',
      'hookgate.decide',
      'hookgate.store.finalize',
    ];
    await expect
      .poll(() => new Set(sink.spans.filter((s) => s.traceId === traceId).map((s) => s.name)).size, {
        timeout: 15_000,
      })
      .toBe(names.length);
    const spans = sink.spans.filter((s) => s.traceId === traceId);
    const one = (name: string): CollectedSpan => {
      const found = spans.filter((s) => s.name === name);
      expect(found, name).toHaveLength(1);
      return found[0]!;
    };
    const request = one('hookgate.request');
    const stage = one('hookgate.stage');
    const fanout = one('hookgate.fanout');
    const job = one('hookgate.scan.job');
    expect(request.parentSpanId).toBe(mtaSpan);
    expect(request.kind).toBe(2); // SERVER
    expect(stage.parentSpanId).toBe(request.spanId);
    for (const n of [
      'hookgate.store.begin_stage',
      'hookgate.fanout',
      'hookgate.decide',
      'hookgate.store.finalize',
    ])
      expect(one(n).parentSpanId, n).toBe(stage.spanId);
    expect(fanout.kind).toBe(4); // PRODUCER
    expect(job.parentSpanId).toBe(fanout.spanId);
    expect(job.kind).toBe(5); // CONSUMER
    for (const n of ['hookgate.store.load', 'hookgate.scan.engine', 'hookgate.store.record_result'])
      expect(one(n).parentSpanId, n).toBe(job.spanId);
    // Two processes: the job and its children were exported by the worker.
    expect(request.resource['service.name']).toBe('hookgate-ingress');
    expect(job.resource['service.name']).toBe('hookgate-worker');
    expect(job.resource['hookgate.role']).toBe('worker');
    // Attributes named in one place; queue wait measured; outcome and decision recorded.
    expect(stage.attributes).toMatchObject({
      'hookgate.protocol': 'stalwart',
      'hookgate.stage': 'data',
      'hookgate.action': 'accept',
      'hookgate.partial': false,
    });
    expect(typeof job.attributes['hookgate.queue_wait_ms']).toBe('number');
    expect(job.attributes).toMatchObject({
      'hookgate.scanner': 'clamav',
      'hookgate.outcome': 'pass',
      'hookgate.queue': 'scan-clamav',
    });
    expect(one('hookgate.decide').attributes).toMatchObject({
      'hookgate.action': 'accept',
      'hookgate.decided_by': 'policy',
      'hookgate.policy': 'default',
    });
    // No addresses or content in any attribute.
    const values = JSON.stringify(spans.map((s) => s.attributes));
    expect(values).not.toContain('@');
    expect(values).not.toContain('meeting notes');
  });
});

describe('metrics on every process', () => {
  it('exposes request, scanner, queue, deadline and in-flight series', async () => {
    const ingressText = await (await fetch(`${ingress.url}/metrics`)).text();
    for (const series of [
      /hookgate_request_duration_seconds_bucket\{protocol="stalwart",stage="data",action="accept"/,
      /hookgate_verdicts_total\{protocol="stalwart",stage="data",action="accept"/,
      /hookgate_requests_in_flight\{/,
      /hookgate_queue_depth\{scanner="clamav"/,
    ])
      expect(ingressText).toMatch(series);
    const workerText = await (await fetch(`http://${workerMetrics}/metrics`)).text();
    for (const series of [
      /hookgate_scan_duration_seconds_bucket\{scanner="clamav",outcome="pass"/,
      /hookgate_queue_wait_seconds_bucket\{scanner="clamav"/,
      /hookgate_cache_lookups_total\{scanner="clamav",result="miss"/,
      /hookgate_queue_depth\{scanner="clamav"/,
    ])
      expect(workerText).toMatch(series);
    expect((await fetch(`http://${workerMetrics}/readyz`)).status).toBe(200);
  });

  it('counts deadline misses and late results', async () => {
    // The worker is stopped, so the next data request misses its deadline; the result arrives late once a worker
    // runs again.
    await worker.stop();
    const cfg = writeConfig(
      `redis: { prefix: tel${process.pid} }\nscanners: { dlp: { enabled: false } }\nstages: { deadlineMs: { data: 500 } }\n`,
    );
    const fast = await startHookgate(['ingress'], {
      HOOKGATE_CONFIG: cfg,
      HOOKGATE_REDIS_URL: redis.url,
      HOOKGATE_CLAMD: clamd.tcp,
      HOOKGATE_LISTEN: `127.0.0.1:${await freePort()}`,
    });
    try {
      const res = await fetch(`${fast.url}/hooks/stalwart`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(stalwartRequest('data', {}, clean())),
      });
      expect(((await res.json()) as { response: { status: number } }).response.status).toBe(451);
      const text = await (await fetch(`${fast.url}/metrics`)).text();
      expect(text).toMatch(/hookgate_deadline_misses_total\{protocol="stalwart",stage="data"[^}]*\} 1/);
      expect(text).toMatch(/hookgate_verdicts_total\{protocol="stalwart",stage="data",action="tempfail"/);
    } finally {
      await fast.stop();
    }
  });
});

describe('logs', () => {
  it('one JSON verdict line per answer with transaction, trace and span ids', () => {
    const lines = ingress
      .stdout()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const verdicts = lines.filter((l) => l.msg === 'verdict');
    expect(verdicts.length).toBeGreaterThanOrEqual(1);
    for (const v of verdicts) {
      expect(v).toMatchObject({
        level: 'info',
        stage: expect.any(String),
        action: expect.any(String),
        txnId: expect.stringMatching(/\.\d+$/),
      });
      expect(v.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(v.span_id).toMatch(/^[0-9a-f]{16}$/);
    }
    expect(ingress.stdout()).not.toContain('alice@example.org');
  });
});
