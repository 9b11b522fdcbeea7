/** Limits of message bytes held in Redis for scans in flight, per ingress process. */
export interface ByteBudgetLimits {
  /** All callers together, bytes. */
  totalBytes: number;
  /** One caller (an MTA identity, or a client address when unauthenticated), bytes. */
  perCallerBytes: number;
}

/** Which limit refused a reservation. */
export type BudgetRefusal = 'total' | 'caller';

/**
 * Counts the message bytes this process has put into Redis and not yet seen leave it, per caller and in total
 * (issue 11: one client could fill Redis). A reservation is released when the bytes leave Redis: deleted once
 * every scanner answered, or expired after the deadline. Over a limit, the stage is answered tempfail at once
 * and nothing is stored. A single message larger than the per-caller limit is still admitted when that caller
 * has nothing else in flight, so a limit below `maxBodyBytes` cannot refuse one message for ever.
 */
export class ByteBudget {
  readonly #limits: ByteBudgetLimits;
  readonly #byCaller = new Map<string, number>();
  #total = 0;

  constructor(limits: ByteBudgetLimits) {
    this.#limits = limits;
  }

  /** Reserves `bytes` for `caller`; returns a release function (idempotent), or the limit that refused. */
  reserve(caller: string, bytes: number): (() => void) | BudgetRefusal {
    const mine = this.#byCaller.get(caller) ?? 0;
    if (mine > 0 && mine + bytes > this.#limits.perCallerBytes) return 'caller';
    if (this.#total > 0 && this.#total + bytes > this.#limits.totalBytes) return 'total';
    this.#total += bytes;
    this.#byCaller.set(caller, mine + bytes);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#total -= bytes;
      const left = (this.#byCaller.get(caller) ?? bytes) - bytes;
      if (left > 0) this.#byCaller.set(caller, left);
      else this.#byCaller.delete(caller);
    };
  }

  /** Bytes currently reserved, in total. */
  get inFlightBytes(): number {
    return this.#total;
  }
}
