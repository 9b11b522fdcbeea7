import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BUILTIN_RULES, DlpEngine, resolveDlpConfig } from '@hookgate/scanner-dlp';

// The labelled corpus made by scripts/make-corpus.mjs (committed, deterministic).
const DIR = fileURLToPath(new URL('../../../test/fixtures/dlp/', import.meta.url));

interface Label {
  rules: Record<string, number>;
  notInspected: string[];
}
const labels = (JSON.parse(readFileSync(`${DIR}labels.json`, 'utf8')) as { messages: Record<string, Label> })
  .messages;

describe('quality corpus', () => {
  it('has at least 200 labelled messages, each on disk', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.eml'));
    expect(files.length).toBeGreaterThanOrEqual(200);
    expect(Object.keys(labels).sort()).toEqual(files.sort());
    const positives = (rule: string) => Object.values(labels).filter((l) => (l.rules[rule] ?? 0) > 0).length;
    for (const rule of BUILTIN_RULES) expect(positives(rule), rule).toBeGreaterThanOrEqual(10);
    expect(
      Object.values(labels).filter((l) => Object.keys(l.rules).length === 0).length,
    ).toBeGreaterThanOrEqual(100);
  });

  it('reaches precision and recall >= 0.98 per built-in detector, and names what it could not read', async () => {
    const engine = new DlpEngine(resolveDlpConfig({}));
    const tally = Object.fromEntries(BUILTIN_RULES.map((r) => [r, { tp: 0, fp: 0, fn: 0 }]));
    const wrongNotInspected: string[] = [];
    for (const [file, label] of Object.entries(labels)) {
      const report = await engine.inspectMessage(readFileSync(`${DIR}${file}`));
      const found = Object.fromEntries(report.findings.map((f) => [f.rule, f.count]));
      for (const rule of BUILTIN_RULES) {
        const want = label.rules[rule] ?? 0;
        const got = found[rule] ?? 0;
        const t = tally[rule]!;
        t.tp += Math.min(want, got);
        t.fp += Math.max(0, got - want);
        t.fn += Math.max(0, want - got);
      }
      const types = [...new Set(report.notInspected.map((n) => n.type))].sort();
      if (JSON.stringify(types) !== JSON.stringify(label.notInspected)) wrongNotInspected.push(file);
    }
    for (const rule of BUILTIN_RULES) {
      const { tp, fp, fn } = tally[rule]!;
      expect(tp / (tp + fp), `${rule} precision (tp ${tp}, fp ${fp})`).toBeGreaterThanOrEqual(0.98);
      expect(tp / (tp + fn), `${rule} recall (tp ${tp}, fn ${fn})`).toBeGreaterThanOrEqual(0.98);
    }
    expect(wrongNotInspected).toEqual([]);
  });
});
