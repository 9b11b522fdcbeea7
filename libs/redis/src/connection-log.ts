import type { Redis, Cluster } from 'ioredis';

type RedisClient = Redis | Cluster;

export interface ConnectionLogger {
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
}

/**
 * One log line per change of Redis reachability for a whole process, not one per client per reconnect attempt
 * (issue 11: three identical lines every two seconds while Redis was down). The first error after being connected
 * logs `redis unreachable` with the error; once every watched client is ready again, `redis reachable again` says
 * how long it was down and how many connection errors were seen meanwhile.
 */
export class ConnectionLog {
  readonly #log: ConnectionLogger;
  readonly #clients = new Map<RedisClient, string>();
  #down: { since: number; errors: number; clients: Set<string> } | undefined;

  constructor(log: ConnectionLogger) {
    this.#log = log;
  }

  /** Starts watching a client, named for the log (e.g. `ingress-store`). */
  watch(client: RedisClient, name: string): void {
    this.#clients.set(client, name);
    client.on('error', (err: Error) => this.#error(name, err));
    client.on('ready', () => this.#ready());
  }

  #error(name: string, err: Error): void {
    if (this.#down) {
      this.#down.errors++;
      this.#down.clients.add(name);
      return;
    }
    this.#down = { since: Date.now(), errors: 1, clients: new Set([name]) };
    this.#log.warn(
      { err: { message: err.message }, client: name },
      'redis unreachable: requests are answered by each scanner failure policy until it is back',
    );
  }

  #ready(): void {
    if (!this.#down) return;
    if ([...this.#clients.keys()].some((c) => c.status !== 'ready')) return;
    const { since, errors, clients } = this.#down;
    this.#down = undefined;
    this.#log.info(
      { downMs: Date.now() - since, errors, clients: [...clients].sort() },
      'redis reachable again',
    );
  }
}
