/**
 * The dashboard and alert rules only reference metrics the code defines, with labels the code sets.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';

const metricsSource = readFileSync('libs/telemetry/src/metrics.ts', 'utf8');
/**
 * Prometheus names the code exports: dots → underscores, counters get _total, histograms _bucket/_sum/_count. The
 * name may sit on the line after the call (formatting wraps long calls).
 */
function exportedSeries(): Set<string> {
  const out = new Set<string>(['up']);
  for (const m of metricsSource.matchAll(
    /(createCounter|createUpDownCounter|createObservableGauge|hist)\(\s*'([a-z_.]+)'/g,
  )) {
    const name = m[2]!.replaceAll('.', '_');
    if (m[1] === 'createCounter') out.add(`${name}_total`);
    else if (m[1] === 'hist') for (const s of ['_bucket', '_sum', '_count']) out.add(name + s);
    else out.add(name);
  }
  // Tallies: observable counters (`_total`) or up-down counters (a gauge) over in-memory counts.
  for (const m of metricsSource.matchAll(/tallies\(\s*'([a-z_.]+)',[^;]*?'(counter|upDown)',?\s*\)/g)) {
    const name = m[1]!.replaceAll('.', '_');
    out.add(m[2] === 'counter' ? `${name}_total` : name);
  }
  // Gauges may sit in any module of the composition root, subfolders (scan/) included.
  for (const file of readdirSync('services/hookgate/src', { recursive: true, encoding: 'utf8' }).filter((f) =>
    f.endsWith('.ts'),
  )) {
    for (const m of readFileSync(`services/hookgate/src/${file}`, 'utf8').matchAll(
      /observeGauge\(\s*'([a-z_.]+)'/g,
    ))
      out.add(m[1]!.replaceAll('.', '_'));
  }
  return out;
}

function referenced(expr: string): string[] {
  return [...expr.matchAll(/\b(hookgate_[a-z_]+|up)\b/g)].map((m) => m[1]!);
}

describe('observability assets', () => {
  const series = exportedSeries();

  it('knows the series the code exports', () => {
    for (const s of [
      'hookgate_request_duration_seconds_bucket',
      'hookgate_verdicts_total',
      'hookgate_queue_depth',
      'hookgate_scanner_workers',
      'hookgate_scan_errors_total',
      'hookgate_deadline_misses_total',
    ])
      expect(series).toContain(s);
  });

  it('the Grafana dashboard queries only exported series', () => {
    const dash = JSON.parse(readFileSync('deploy/grafana/hookgate-dashboard.json', 'utf8')) as {
      uid: string;
      panels: { title: string; targets: { expr: string }[] }[];
    };
    expect(dash.uid).toBe('hookgate-overview');
    expect(dash.panels.length).toBeGreaterThanOrEqual(8);
    for (const p of dash.panels)
      for (const t of p.targets)
        for (const name of referenced(t.expr)) expect(series, `${p.title}: ${name}`).toContain(name);
  });

  it('alert rules are well-formed and reference only exported series', () => {
    const doc = parse(readFileSync('deploy/prometheus/alerts.yaml', 'utf8')) as {
      groups: {
        name: string;
        rules: {
          alert: string;
          expr: string;
          for: string;
          labels: { severity: string };
          annotations: { summary: string };
        }[];
      }[];
    };
    const rules = doc.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'HookgateHighAnswerLatency',
        'HookgateDeadlineMisses',
        'HookgateScannerErrors',
        'HookgateQueueBacklog',
        'HookgateScannerPoolEmpty',
        'HookgateTempfailRate',
      ]),
    );
    for (const r of rules) {
      expect(r.for).toMatch(/^\d+[smh]$/);
      expect(['warning', 'critical']).toContain(r.labels.severity);
      expect(r.annotations.summary.length).toBeGreaterThan(10);
      for (const name of referenced(r.expr)) expect(series, `${r.alert}: ${name}`).toContain(name);
    }
  });
});
