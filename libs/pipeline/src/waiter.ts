import type { ScanResult } from '@hookgate/contracts';
import type { ResultNotice } from '@hookgate/state-store';
import { hookgateMetrics } from '@hookgate/telemetry';

interface Waiting {
  onResult: (r: ScanResult) => void;
}

/**
 * In-memory map of the stage requests this ingress instance is waiting on. Notifications for requests no longer
 * waited on (answered already) are dropped: a late result never reaches an answer that was given.
 */
export class ResultWaiter {
  readonly #waiting = new Map<string, Waiting>();

  /** Registers interest before the jobs are enqueued, so no result can arrive unseen. */
  expect(reqId: string, onResult: (r: ScanResult) => void): () => void {
    this.#waiting.set(reqId, { onResult });
    return () => this.#waiting.delete(reqId);
  }

  /** Feeds a notification from the instance's reply channel. */
  deliver(notice: ResultNotice): void {
    const w = this.#waiting.get(notice.reqId);
    if (w) w.onResult(notice.result);
    else hookgateMetrics().lateResults.add(1, { scanner: notice.result.scanner });
  }

  get size(): number {
    return this.#waiting.size;
  }
}
