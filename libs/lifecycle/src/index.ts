/**
 * Ordered start and stop. Closers run in reverse registration order, each caught and bounded so later ones still
 * run; the whole stop has a hard deadline. The first SIGTERM/SIGINT drains, a second one exits at once.
 */
import { errorMessage, withTimeout } from '@hookgate/contracts';

export interface LifecycleLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  fatal(obj: object, msg?: string): void;
}

export interface Closer {
  name: string;
  close: () => Promise<void>;
  /** How long this step may take before shutdown moves on without it, ms. */
  timeoutMs: number;
}

export interface CloseOptions {
  /**
   * How long the step may take before shutdown moves on without it, ms (default 3000). Steps that drain work in
   * flight (an HTTP server, scanner workers) set their stage deadline here; a step that waits on an unreachable
   * Redis must never hold the exit for longer (issue 11).
   */
  timeoutMs?: number;
}

/** A shutdown step that takes at least this long is logged. */
const SLOW_CLOSE_MS = 1000;
/** Default bound of one shutdown step. */
const DEFAULT_CLOSE_MS = 3000;

export class Lifecycle {
  readonly #closers: Closer[] = [];
  readonly #log: LifecycleLogger;
  readonly #hardDeadlineMs: number;
  #stopping: Promise<void> | undefined;
  #ready = false;

  constructor(log: LifecycleLogger, options: { hardDeadlineMs?: number } = {}) {
    this.#log = log;
    this.#hardDeadlineMs = options.hardDeadlineMs ?? 45_000;
  }

  /** Registers something to close at stop; registered after it started, closed before what it depends on. */
  onStop(name: string, close: () => Promise<void>, options: CloseOptions = {}): void {
    this.#closers.push({ name, close, timeoutMs: options.timeoutMs ?? DEFAULT_CLOSE_MS });
  }

  setReady(ready: boolean): void {
    this.#ready = ready;
  }

  get ready(): boolean {
    return this.#ready && !this.#stopping;
  }

  get stopping(): boolean {
    return this.#stopping !== undefined;
  }

  /** Runs every closer once, in reverse order. Idempotent: later calls get the same promise. */
  stop(reason: string): Promise<void> {
    this.#stopping ??= (async () => {
      this.#ready = false;
      this.#log.info({ reason }, 'shutting down');
      const hard = setTimeout(() => {
        this.#log.error(
          { hardDeadlineMs: this.#hardDeadlineMs },
          'shutdown exceeded its hard deadline; exiting',
        );
        process.exit(1);
      }, this.#hardDeadlineMs);
      hard.unref();
      for (const c of [...this.#closers].reverse()) {
        const started = Date.now();
        try {
          const outcome = await withTimeout(
            c.close().then(() => 'closed' as const),
            c.timeoutMs,
            () => 'timeout' as const,
          );
          if (outcome === 'timeout')
            this.#log.warn(
              { closer: c.name, timeoutMs: c.timeoutMs },
              'shutdown step did not finish in time; moving on',
            );
        } catch (err) {
          this.#log.warn({ closer: c.name, err: errorMessage(err) }, 'closer failed');
        }
        // A slow step in a shutdown is worth seeing; the others are noise.
        if (Date.now() - started >= SLOW_CLOSE_MS)
          this.#log.warn({ closer: c.name, ms: Date.now() - started }, 'slow shutdown step');
      }
      clearTimeout(hard);
      this.#log.info({}, 'stopped');
    })();
    return this.#stopping;
  }

  /** Wires SIGTERM/SIGINT and fatal process errors to `stop`, then `exit`. */
  handleSignals(exit: (code: number) => void = (code) => process.exit(code)): void {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        this.#log.warn({ signal }, 'second signal: exiting now');
        exit(1);
        return;
      }
      void this.stop(signal).then(() => exit(0));
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    const onFatal = (err: unknown) => {
      this.#log.fatal(
        { err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err) },
        'fatal error',
      );
      void this.stop('fatal').then(() => exit(1));
    };
    process.on('uncaughtException', onFatal);
    process.on('unhandledRejection', onFatal);
  }
}

export { startHealthServer, type HealthServerOptions } from './health-server.js';
