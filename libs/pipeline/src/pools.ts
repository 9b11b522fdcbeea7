import type { PoolCounts, PoolRegistry } from '@hookgate/state-store';

export interface PoolWatcherOptions {
  registry: PoolRegistry;
  /** Scanner ids the pipeline fans out to: the ones whose pools matter. */
  scanners: readonly string[];
  /** Re-read period, ms (default 1000). Joins are also announced, so a new worker is seen at once. */
  intervalMs?: number;
  /** A pool became empty or got its first worker (for the log and readiness). */
  onChange?: (scanner: string, workers: number) => void;
  now?: () => number;
}

/**
 * The ingress's view of which scanner pools have live workers, re-read every second and whenever a worker joins
 * or leaves. Until the first read succeeds, and whenever Redis cannot be read, every pool counts as live: the
 * deadline then decides, as before (a Redis outage must not turn into "no workers" answers).
 */
export class PoolWatcher {
  readonly #o: PoolWatcherOptions;
  #counts: PoolCounts | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reading: Promise<void> | undefined;

  constructor(options: PoolWatcherOptions) {
    this.#o = options;
  }

  /** Reads once (so startup can report), then keeps reading. */
  async start(): Promise<void> {
    await this.refresh();
    this.#timer = setInterval(() => void this.refresh(), this.#o.intervalMs ?? 1000);
    this.#timer.unref();
  }

  /** Re-reads the registry now (coalesced with a read in progress). Never throws. */
  refresh(): Promise<void> {
    this.#reading ??= (async () => {
      try {
        const next = await this.#o.registry.live(this.#o.now?.());
        const before = this.#counts;
        this.#counts = next;
        for (const s of this.#o.scanners) {
          const was = before?.get(s) ?? (before ? 0 : undefined);
          const is = next.get(s) ?? 0;
          if (was === undefined ? is === 0 : (was === 0) !== (is === 0)) this.#o.onChange?.(s, is);
        }
      } catch {
        // Redis unreachable: keep the last view; requests then wait for the deadline as they would anyway.
      } finally {
        this.#reading = undefined;
      }
    })();
    return this.#reading;
  }

  /** False only when the last successful read found no live worker for the scanner. */
  isLive(scanner: string): boolean {
    return this.#counts === undefined || (this.#counts.get(scanner) ?? 0) > 0;
  }

  /** Live workers per watched scanner, or undefined before the first read. */
  snapshot(): Record<string, number> | undefined {
    const c = this.#counts;
    return c && Object.fromEntries(this.#o.scanners.map((s) => [s, c.get(s) ?? 0]));
  }

  /**
   * For /readyz: live workers per pool and which pools nobody consumes. An empty pool does not make a frontend
   * unready: it still answers, deciding that scanner's absence by its failure policy, and taking every replica out
   * of rotation would turn one pool's outage into a full one.
   */
  readiness(): { pools?: Record<string, number>; unconsumed?: string[] } {
    const pools = this.snapshot();
    if (!pools) return {};
    const empty = Object.entries(pools)
      .filter(([, n]) => n === 0)
      .map(([s]) => s);
    return { pools, ...(empty.length > 0 ? { unconsumed: empty } : {}) };
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
