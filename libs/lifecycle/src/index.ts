/**
 * Ordered start and stop. Closers run in reverse registration order, each caught and bounded so later ones still
 * run; the whole stop has a hard deadline. The first SIGTERM/SIGINT drains, a second one exits at once.
 */
export interface LifecycleLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  fatal(obj: object, msg?: string): void;
}

export interface Closer {
  name: string;
  close: () => Promise<void>;
}

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
  onStop(name: string, close: () => Promise<void>): void {
    this.#closers.push({ name, close });
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
        this.#log.error({ hardDeadlineMs: this.#hardDeadlineMs }, 'shutdown exceeded its hard deadline; exiting');
        process.exit(1);
      }, this.#hardDeadlineMs);
      hard.unref();
      for (const c of [...this.#closers].reverse()) {
        try {
          await c.close();
        } catch (err) {
          this.#log.warn({ closer: c.name, err: err instanceof Error ? err.message : String(err) }, 'closer failed');
        }
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
      this.#log.fatal({ err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err) }, 'fatal error');
      void this.stop('fatal').then(() => exit(1));
    };
    process.on('uncaughtException', onFatal);
    process.on('unhandledRejection', onFatal);
  }
}

export { startHealthServer, type HealthServerOptions } from './health-server.js';
