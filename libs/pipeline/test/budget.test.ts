import { describe, expect, it } from 'vitest';
import { ByteBudget } from '@hookgate/pipeline';

describe('ByteBudget', () => {
  it('refuses past the per-caller and the total limit, and frees on release (once)', () => {
    const b = new ByteBudget({ totalBytes: 300, perCallerBytes: 200 });
    const r1 = b.reserve('a', 150);
    expect(typeof r1).toBe('function');
    expect(b.reserve('a', 100)).toBe('caller');
    const r2 = b.reserve('b', 100);
    expect(typeof r2).toBe('function');
    expect(b.reserve('c', 100)).toBe('total');
    expect(b.inFlightBytes).toBe(250);
    (r1 as () => void)();
    (r1 as () => void)();
    expect(b.inFlightBytes).toBe(100);
    expect(typeof b.reserve('a', 150)).toBe('function');
  });

  it('admits one message larger than a limit when nothing else is in flight, so no message is refused for ever', () => {
    const b = new ByteBudget({ totalBytes: 100, perCallerBytes: 50 });
    const big = b.reserve('a', 500);
    expect(typeof big).toBe('function');
    expect(b.reserve('a', 1)).toBe('caller');
    expect(b.reserve('b', 1)).toBe('total');
    (big as () => void)();
    expect(b.inFlightBytes).toBe(0);
  });
});
