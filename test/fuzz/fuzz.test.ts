/**
 * A bounded fuzz run of every target, from a fixed seed so CI is deterministic (FUZZ_SEED and FUZZ_CASES
 * override). Long runs (a million cases per target) are `npm run fuzz`; docs/testing.md has both.
 */
import { describe, expect, it } from 'vitest';
import { failureReport, runTarget } from './harness.js';
import { TARGETS } from './targets.js';

const CASES = Number(process.env.FUZZ_CASES ?? 2_000);
const SEED = Number(process.env.FUZZ_SEED ?? 11_008);
// The suite runs this beside daemons and another test file on two cores: the 200 ms bound of the long runs would
// measure the neighbours, so CI only catches pathological cases.
const SLOW_MS = 1_000;

describe('fuzz: every parser, bounded run', () => {
  for (const [name, make] of Object.entries(TARGETS)) {
    it(`${name}: ${CASES} cases from seed ${SEED} keep every oracle`, async () => {
      const r = await runTarget(make(), { cases: CASES, seed: SEED, slowMs: SLOW_MS });
      expect(failureReport(r)).toBe('');
      expect(r.cases).toBe(CASES);
    }, 180_000);
  }
});
