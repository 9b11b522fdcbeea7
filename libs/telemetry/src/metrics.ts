/**
 * hookgate's metrics, created once from the global meter (a no-op until the SDK starts). Names follow OTel
 * conventions; the Prometheus exporter renders them as e.g. `hookgate_request_duration_seconds`.
 */
import { metrics, type Attributes, type ObservableResult } from '@opentelemetry/api';

/** Buckets in seconds, from 1 ms to the longest stage deadlines. */
const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30];

function create() {
  const m = metrics.getMeter('hookgate');
  const hist = (name: string, description: string) =>
    m.createHistogram(name, { description, unit: 's', advice: { explicitBucketBoundaries: SECONDS } });
  return {
    /** Answer latency by protocol, stage and action. */
    requestDuration: hist(
      'hookgate.request.duration_seconds',
      'Time from receipt to answer of a stage request',
    ),
    /** Scanner latency by scanner and outcome status. */
    scanDuration: hist('hookgate.scan.duration_seconds', 'Time spent in a scanner (engine call) per job'),
    queueWait: hist('hookgate.queue.wait_seconds', 'Time a scan job waited in its queue'),
    scanErrors: m.createCounter('hookgate.scan.errors', {
      description: 'Scanner error outcomes by scanner and code',
    }),
    scanTimeouts: m.createCounter('hookgate.scan.timeouts', {
      description: 'Scans that did not finish before their deadline',
    }),
    lateResults: m.createCounter('hookgate.scan.late_results', {
      description: 'Results that arrived after the answer was given',
    }),
    deadlineMisses: m.createCounter('hookgate.deadline.misses', {
      description: 'Answers given at the deadline with results missing (partial verdicts)',
    }),
    cacheLookups: m.createCounter('hookgate.cache.lookups', {
      description: 'Result cache lookups by scanner and result (hit, miss)',
    }),
    /** Per protocol and stage; a tally, counted on every request. */
    inFlight: tallies('hookgate.requests.in_flight', 'Stage requests being handled', 'upDown'),
    verdicts: m.createCounter('hookgate.verdicts', { description: 'Verdicts by protocol, stage and action' }),
    /** Per connection; a tally, counted on every Redis command. */
    redisRoundTrips: tallies(
      'hookgate.redis.round_trips',
      'Redis round trips by connection: a command on its own (a script call counts once) or a whole pipeline',
      'counter',
    ),
  };
}

/** A count for one attribute set: `add` is a plain addition, read when metrics are collected. */
export interface Tally {
  add(n: number): void;
}

/**
 * An observable counter (or up-down counter) over tallies held in memory. The SDK's synchronous instruments hash
 * their attributes on every record; a count made several times per request (each Redis call, each request in
 * and out) costs that hashing each time (issue 12). A tally is looked up once per attribute set and then only
 * added to. `tally(attributes)` returns the same Tally for equal attributes.
 */
function tallies(
  name: string,
  description: string,
  kind: 'counter' | 'upDown',
): (attributes: Attributes) => Tally {
  const m = metrics.getMeter('hookgate');
  const all = new Map<string, { attributes: Attributes; value: number; add(n: number): void }>();
  const instrument =
    kind === 'counter'
      ? m.createObservableCounter(name, { description })
      : m.createObservableUpDownCounter(name, { description });
  instrument.addCallback((result) => {
    for (const t of all.values()) result.observe(t.value, t.attributes);
  });
  return (attributes) => {
    const key = JSON.stringify(attributes);
    let t = all.get(key);
    if (!t) {
      const entry = {
        attributes: { ...attributes },
        value: 0,
        add(n: number) {
          entry.value += n;
        },
      };
      all.set(key, (t = entry));
    }
    return t;
  };
}

let instruments: ReturnType<typeof create> | undefined;

/** The instruments; created on first use so the SDK (if any) is registered first. */
export function hookgateMetrics(): ReturnType<typeof create> {
  instruments ??= create();
  return instruments;
}

/** Registers an observable gauge read at collection time (e.g. queue depth, read only when scraped). */
export function observeGauge(
  name: string,
  description: string,
  read: () => Promise<{ value: number; attributes: Attributes }[]>,
): void {
  const gauge = metrics.getMeter('hookgate').createObservableGauge(name, { description });
  gauge.addCallback(async (result: ObservableResult) => {
    try {
      for (const { value, attributes } of await read()) result.observe(value, attributes);
    } catch {
      // A failed read (Redis down) leaves the gauge without a point, rather than failing the scrape.
    }
  });
}

export function seconds(ms: number): number {
  return ms / 1000;
}
