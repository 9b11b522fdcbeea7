import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/**
 * Recent event-loop lag of this process, so deadline timers can fire early by as much as they would fire late
 * (issue 11: under load an answer timed for 100 ms before its deadline still came a few ms after it). Reads the
 * worst delay of the last few seconds; cheap enough to consult on every request.
 */
export class LoopLag {
  readonly #histogram: IntervalHistogram;
  readonly #windows: number[] = [];
  readonly #timer: NodeJS.Timeout;
  #recentMs = 0;

  constructor(windowMs = 1000, windows = 5) {
    this.#histogram = monitorEventLoopDelay({ resolution: 10 });
    this.#histogram.enable();
    this.#timer = setInterval(() => {
      this.#windows.push(this.#histogram.max / 1e6);
      this.#histogram.reset();
      if (this.#windows.length > windows) this.#windows.shift();
      this.#recentMs = Math.max(0, ...this.#windows);
    }, windowMs);
    this.#timer.unref();
  }

  /** The worst event-loop delay seen in the last few seconds, ms. */
  get recentMs(): number {
    return Math.max(this.#recentMs, this.#histogram.max / 1e6);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#histogram.disable();
  }
}
