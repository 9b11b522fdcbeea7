import { afterEach, describe, expect, it, vi } from 'vitest';
import { errorMessage, unfoldHeader, withTimeout } from '@hookgate/contracts';

describe('withTimeout', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('settles with the work when it finishes first, and leaves no timer behind', async () => {
    vi.useFakeTimers();
    expect(await withTimeout(Promise.resolve(7), 1000, () => 'late')).toBe(7);
    expect(vi.getTimerCount()).toBe(0);
    await expect(withTimeout(Promise.reject(new Error('boom')), 1000)).rejects.toThrow('boom');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('settles with onTimeout() (undefined without one) when the time runs out first', async () => {
    vi.useFakeTimers();
    const never = new Promise<number>(() => undefined);
    const late = withTimeout(never, 500, () => 'late' as const);
    const plain = withTimeout(never, 500);
    await vi.advanceTimersByTimeAsync(499);
    expect(vi.getTimerCount()).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(await late).toBe('late');
    expect(await plain).toBeUndefined();
  });

  it('rejects with what onTimeout throws; a negative time is no time', async () => {
    vi.useFakeTimers();
    const p = withTimeout(new Promise(() => undefined), -5, () => {
      throw new Error('too slow');
    });
    const settled = expect(p).rejects.toThrow('too slow');
    await vi.advanceTimersByTimeAsync(0);
    await settled;
  });
});

describe('unfoldHeader', () => {
  it('joins folded lines with one space and trims the ends (CRLF or LF)', () => {
    expect(unfoldHeader(' Hello\r\n\tworld \r\n')).toBe('Hello world');
    expect(unfoldHeader('a\n   b\r\n c')).toBe('a b c');
    expect(unfoldHeader('no fold')).toBe('no fold');
  });
});

describe('errorMessage', () => {
  it('is the message of an Error and the text of anything else', () => {
    expect(errorMessage(new TypeError('bad'))).toBe('bad');
    expect(errorMessage('plain')).toBe('plain');
    expect(errorMessage(42)).toBe('42');
  });
});
