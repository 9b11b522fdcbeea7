/**
 * `npm run fuzz -- --target <name|all|a,b> --cases N [--seed S] [--path P] [--slow-ms MS] [--time-limit-s T]`
 *
 * Runs each target for N cases (default 10,000) from seed S (default: random, printed), prints progress, cases/s
 * and the first failure with the command that replays it. Exit status 1 when any target failed.
 */
import { randomInt } from 'node:crypto';
import { failureReport, runTarget, type RunResult } from './harness.js';
import { TARGETS, TARGET_NAMES } from './targets.js';

function args(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument "${a}"`);
    const eq = a.indexOf('=');
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else out[a.slice(2)] = argv[++i] ?? '';
  }
  return out;
}

function usage(): never {
  console.error(
    `usage: npm run fuzz -- --target <${TARGET_NAMES.join('|')}|all> [--cases N] [--seed S] [--path P] [--slow-ms MS] [--time-limit-s T]`,
  );
  process.exit(2);
}

const a = args(process.argv.slice(2));
if ('help' in a) usage();
const names = !a.target || a.target === 'all' ? TARGET_NAMES : a.target.split(',');
for (const n of names) if (!TARGETS[n]) usage();
const cases = Number(a.cases ?? 10_000);
const seed = a.seed !== undefined ? Number(a.seed) : randomInt(2 ** 31 - 1);
const slowMs = Number(a['slow-ms'] ?? 200);
const timeLimitS = a['time-limit-s'] !== undefined ? Number(a['time-limit-s']) : undefined;
if (
  !Number.isSafeInteger(cases) ||
  cases <= 0 ||
  !Number.isSafeInteger(seed) ||
  !(slowMs > 0) ||
  (timeLimitS !== undefined && !(timeLimitS > 0))
)
  usage();

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const results: RunResult[] = [];
for (const name of names) {
  const target = TARGETS[name]!();
  console.log(`${name}: ${target.description}`);
  console.log(`${name}: ${fmt(cases)} cases, seed ${seed}${a.path ? `, path ${a.path}` : ''}`);
  const r = await runTarget(target, {
    cases,
    seed,
    ...(a.path ? { path: a.path } : {}),
    slowMs,
    ...(timeLimitS ? { timeLimitMs: timeLimitS * 1000 } : {}),
    onProgress: (done, ms) =>
      console.log(
        `${name}: ${fmt(done)} cases, ${(ms / 1000).toFixed(0)} s, ${fmt(done / (ms / 1000))} cases/s, rss ${fmt(process.memoryUsage().rss / 2 ** 20)} MiB`,
      ),
    progressMs: 30_000,
  });
  results.push(r);
  console.log(
    `${name}: ${fmt(r.cases)} cases in ${(r.ms / 1000).toFixed(1)} s, ${fmt(r.casesPerSec)} cases/s, most CPU in one case ${r.slowestMs.toFixed(1)} ms, ${r.failure ? '1 failure' : '0 failures'}${r.interrupted ? ' (stopped at the time limit)' : ''}`,
  );
  if (r.failure) console.log(failureReport(r));
}
console.log('');
console.log('target                  cases        seconds   cases/s   max CPU ms   failures');
for (const r of results) {
  console.log(
    `${r.target.padEnd(22)}  ${fmt(r.cases).padStart(11)}  ${(r.ms / 1000).toFixed(1).padStart(8)}  ${fmt(r.casesPerSec).padStart(8)}  ${r.slowestMs.toFixed(1).padStart(11)}  ${r.failure ? 1 : 0}`,
  );
}
process.exit(results.some((r) => r.failure) ? 1 : 0);
