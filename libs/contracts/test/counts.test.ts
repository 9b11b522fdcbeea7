import { describe, expect, it } from 'vitest';
import { CountsSinceReport } from '@hookgate/contracts';

describe('CountsSinceReport', () => {
  it('reports what changed since the last report, at most once per interval, nothing when nothing changed', () => {
    const counts = { evicted: 0, refused: 0 };
    const r = new CountsSinceReport(counts, 10_000);
    expect(r.waitMs(1_000)).toBe(0);
    expect(r.take(1_000)).toBeUndefined();
    counts.evicted += 2;
    expect(r.take(1_000)).toEqual({ evicted: 2, refused: 0 });
    expect(r.waitMs(4_000)).toBe(7_000);
    counts.refused++;
    expect(r.waitMs(11_000)).toBe(0);
    expect(r.take(11_000)).toEqual({ evicted: 0, refused: 1 });
    expect(r.take(30_000)).toBeUndefined();
  });
});
