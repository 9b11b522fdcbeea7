#!/usr/bin/env node
/**
 * DLP benchmark: precision and recall per built-in detector over the labelled corpus, and throughput in MB/s of
 * message text. Runs under plain node against the BUILT package:
 *
 *   npx turbo run build --filter=@hookgate/scanner-dlp && node services/scanner-dlp/bench/dlp-bench.mjs [--runs 20]
 *
 * The last line of output is a one-line JSON summary. No matched value is ever printed.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BUILTIN_RULES, DlpEngine, resolveDlpConfig } from '../dist/index.js';

const CORPUS = fileURLToPath(new URL('../../../test/fixtures/dlp/', import.meta.url));
const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const RUNS = arg('--runs', 20);
const MB = 1e6;

const labels = JSON.parse(readFileSync(`${CORPUS}labels.json`, 'utf8')).messages;
const files = readdirSync(CORPUS).filter((f) => f.endsWith('.eml'));
const messages = files.map((f) => ({ file: f, bytes: readFileSync(`${CORPUS}${f}`), label: labels[f] }));
const engine = new DlpEngine(resolveDlpConfig({}));

// 1. Quality.
const tally = Object.fromEntries(BUILTIN_RULES.map((r) => [r, { tp: 0, fp: 0, fn: 0 }]));
let corpusText = 0;
for (const m of messages) {
  const report = await engine.inspectMessage(m.bytes);
  corpusText += report.textChars;
  const found = Object.fromEntries(report.findings.map((f) => [f.rule, f.count]));
  for (const rule of BUILTIN_RULES) {
    const want = m.label?.rules[rule] ?? 0;
    const got = found[rule] ?? 0;
    tally[rule].tp += Math.min(want, got);
    tally[rule].fp += Math.max(0, got - want);
    tally[rule].fn += Math.max(0, want - got);
  }
}
const ratio = (a, b) => (b === 0 ? 1 : a / b);
const quality = Object.fromEntries(
  BUILTIN_RULES.map((r) => {
    const { tp, fp, fn } = tally[r];
    return [r, { tp, fp, fn, precision: ratio(tp, tp + fp), recall: ratio(tp, tp + fn) }];
  }),
);

console.log(`DLP quality over ${messages.length} labelled messages (test/fixtures/dlp)\n`);
console.log(`${'rule'.padEnd(16)}${'tp'.padStart(5)}${'fp'.padStart(5)}${'fn'.padStart(5)}${'precision'.padStart(11)}${'recall'.padStart(9)}`);
for (const [r, q] of Object.entries(quality)) {
  console.log(`${r.padEnd(16)}${String(q.tp).padStart(5)}${String(q.fp).padStart(5)}${String(q.fn).padStart(5)}${q.precision.toFixed(3).padStart(11)}${q.recall.toFixed(3).padStart(9)}`);
}

// 2. Throughput over the corpus: MIME parsing, HTML conversion and every detector.
const corpusBytes = messages.reduce((n, m) => n + m.bytes.length, 0);
for (const m of messages) await engine.inspectMessage(m.bytes); // warm-up
let started = performance.now();
for (let i = 0; i < RUNS; i++) for (const m of messages) await engine.inspectMessage(m.bytes);
const corpusSeconds = (performance.now() - started) / 1000;

// 3. Throughput over ~1 MB of synthetic text: the detectors alone.
function syntheticText(size) {
  let s = 1;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const words = 'the invoice for order shipped account meeting quarterly review delivery address please confirm regards team'.split(' ');
  const tokens = [
    () => String(Math.floor(rnd() * 1e6)),
    () => `ORD-2024-${String(Math.floor(rnd() * 1e6)).padStart(6, '0')}`,
    () => `+1 (555) 010-${String(Math.floor(rnd() * 1e4)).padStart(4, '0')}`,
    () => '2024-07-02T10:00:00Z',
    () => Math.floor(rnd() * 2 ** 32).toString(16).padStart(8, '0') + '-4a1b-9c2d-' + Math.floor(rnd() * 2 ** 32).toString(16),
    () => Buffer.from(String(rnd())).toString('base64'),
    () => '4111 1111 1111 1112',
  ];
  const parts = [];
  let len = 0;
  while (len < size) {
    const w = rnd() < 0.1 ? tokens[Math.floor(rnd() * tokens.length)]() : words[Math.floor(rnd() * words.length)];
    parts.push(w);
    len += w.length + 1;
  }
  return parts.join(' ').replace(/((?:\S+ ){12})/g, '$1\n');
}
const text = syntheticText(1 << 20);
engine.scanText(text); // warm-up
started = performance.now();
for (let i = 0; i < RUNS; i++) engine.scanText(text);
const textSeconds = (performance.now() - started) / 1000;

// 4. The same text with three operator rules (RE2 regex, dictionary, context).
const withRules = new DlpEngine(
  resolveDlpConfig({
    rules: [
      { id: 'corp.employee-id', pattern: '\\bEMP-\\d{6}\\b' },
      { id: 'corp.confidential', keywords: ['confidential', 'internal only', 'vertraulich'] },
      { id: 'corp.patient', pattern: '\\b\\d{7}\\b', context: { words: ['patient', 'mrn'], within: 40 } },
    ],
  }),
);
withRules.scanText(text);
started = performance.now();
for (let i = 0; i < RUNS; i++) withRules.scanText(text);
const rulesSeconds = (performance.now() - started) / 1000;

// 5. Full inspection of ~2 MB messages: MIME decoding and HTML conversion dominate, as they would in production.
const head = (type, cte) => `From: a@example.com\r\nTo: b@example.org\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: ${type}\r\nContent-Transfer-Encoding: ${cte}\r\n\r\n`;
const big = text.slice(0, 2 * MB);
const bigMessages = {
  '7bit text/plain': Buffer.from(head('text/plain; charset=utf-8', '7bit') + big.replace(/\n/g, '\r\n'), 'utf8'),
  'base64 text/csv': Buffer.from(head('text/csv; charset=utf-8', 'base64') + Buffer.from(big).toString('base64').replace(/.{76}/g, '$&\r\n'), 'utf8'),
  'qp text/html': Buffer.from(
    head('text/html; charset=utf-8', 'quoted-printable') +
      `<html><body>${big.split('\n').map((l) => `<p>${l}</p>`).join('\r\n')}</body></html>`.replace(/=/g, '=3D').replace(/(.{70})/g, '$1=\r\n'),
    'utf8',
  ),
};
const BIG_RUNS = Math.max(1, Math.round(RUNS / 4));
const bigRates = {};
for (const [name, msg] of Object.entries(bigMessages)) {
  const report = await engine.inspectMessage(msg);
  started = performance.now();
  for (let i = 0; i < BIG_RUNS; i++) await engine.inspectMessage(msg);
  const seconds = (performance.now() - started) / 1000;
  bigRates[name] = { messageMBps: Number(((msg.length * BIG_RUNS) / MB / seconds).toFixed(1)), textMBps: Number(((report.textChars * BIG_RUNS) / MB / seconds).toFixed(1)) };
}

const rate = (bytes, seconds) => Number(((bytes * RUNS) / MB / seconds).toFixed(1));
const throughput = {
  corpusMessageMBps: rate(corpusBytes, corpusSeconds),
  corpusTextMBps: rate(corpusText, corpusSeconds),
  corpusMessagesPerSecond: Math.round((messages.length * RUNS) / corpusSeconds),
  syntheticTextMBps: rate(text.length, textSeconds),
  syntheticTextWithOperatorRulesMBps: rate(text.length, rulesSeconds),
};
console.log(`\nThroughput (node ${process.version}, ${RUNS} runs)\n`);
console.log(`corpus, full inspection     ${String(throughput.corpusMessageMBps).padStart(7)} MB/s of raw message (${(corpusBytes / MB).toFixed(2)} MB/run)`);
console.log(`corpus, full inspection     ${String(throughput.corpusTextMBps).padStart(7)} MB/s of decoded text (${(corpusText / MB).toFixed(2)} MB/run), ${throughput.corpusMessagesPerSecond} messages/s`);
console.log(`1 MiB synthetic text        ${String(throughput.syntheticTextMBps).padStart(7)} MB/s (built-in detectors)`);
console.log(`1 MiB synthetic text        ${String(throughput.syntheticTextWithOperatorRulesMBps).padStart(7)} MB/s (plus 3 operator rules)`);
for (const [name, r] of Object.entries(bigRates)) {
  console.log(`2 MB message, ${name.padEnd(14)}${String(r.messageMBps).padStart(6)} MB/s of raw message, ${r.textMBps} MB/s of text`);
}

const minPrecision = Math.min(...Object.values(quality).map((q) => q.precision));
const minRecall = Math.min(...Object.values(quality).map((q) => q.recall));
console.log(
  JSON.stringify({
    bench: 'dlp',
    messages: messages.length,
    runs: RUNS,
    minPrecision: Number(minPrecision.toFixed(4)),
    minRecall: Number(minRecall.toFixed(4)),
    perRule: Object.fromEntries(Object.entries(quality).map(([r, q]) => [r, { p: Number(q.precision.toFixed(4)), r: Number(q.recall.toFixed(4)) }])),
    ...throughput,
    largeMessages: bigRates,
  }),
);
