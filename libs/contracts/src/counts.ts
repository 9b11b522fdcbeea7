/**
 * Counters reported as what changed since the last report, at most once per interval: limits that close sockets
 * are never silent, nor a flood of log lines. The owner increments `counts` and decides when to ask.
 */
export class CountsSinceReport<K extends string> {
  #reported: Record<K, number>;
  #reportedAt = -Infinity;

  constructor(
    readonly counts: Record<K, number>,
    readonly intervalMs: number,
  ) {
    this.#reported = { ...counts };
  }

  /** How long until the next report may be made, ms (0: now). */
  waitMs(now: number): number {
    return Math.max(0, this.#reportedAt + this.intervalMs - now);
  }

  /** The changes since the last report, which they now are; undefined when nothing changed. */
  take(now: number): Record<K, number> | undefined {
    const keys = Object.keys(this.counts) as K[];
    if (keys.every((k) => this.counts[k] === this.#reported[k])) return undefined;
    const delta = Object.fromEntries(keys.map((k) => [k, this.counts[k] - this.#reported[k]])) as Record<
      K,
      number
    >;
    this.#reported = { ...this.counts };
    this.#reportedAt = now;
    return delta;
  }
}
