import type { RedisClient } from '@hookgate/redis';
import { StoreKeys } from './keys.js';
import { HEARTBEAT } from './scripts.js';

type PoolClient = RedisClient & { hgHeartbeat(k1: string, ...argv: (string | number)[]): Promise<number> };

/** Live workers per scanner id, as last read. */
export type PoolCounts = ReadonlyMap<string, number>;

/**
 * Which scanner pools have a live consumer (issue 11: an active scanner nobody consumes must be known within
 * seconds, not discovered by every request waiting for its deadline). Each worker process heartbeats one member
 * per hosted scanner into one sorted set, scored by when that heartbeat expires; readers count unexpired members.
 * A worker that joins publishes on the events channel so ingresses re-read at once.
 */
export class PoolRegistry {
  readonly keys: StoreKeys;
  readonly #redis: PoolClient;

  constructor(redis: RedisClient, prefix = 'hg') {
    this.keys = new StoreKeys(prefix);
    if (!('hgHeartbeat' in redis)) redis.defineCommand('hgHeartbeat', { numberOfKeys: 1, lua: HEARTBEAT });
    this.#redis = redis as PoolClient;
  }

  /** Marks `workerId` alive for each scanner until `now + ttlMs`; publishes a join when one is new. */
  async heartbeat(
    workerId: string,
    scanners: readonly string[],
    ttlMs: number,
    now = Date.now(),
  ): Promise<void> {
    if (scanners.length === 0) return;
    await this.#redis.hgHeartbeat(
      this.keys.pools(),
      now,
      now + ttlMs,
      this.keys.poolEvents(),
      ...scanners.map((s) => member(s, workerId)),
    );
  }

  /** Removes `workerId` from its pools at once (graceful shutdown) and tells the ingresses. */
  async leave(workerId: string, scanners: readonly string[]): Promise<void> {
    if (scanners.length === 0) return;
    await this.#redis.zrem(this.keys.pools(), ...scanners.map((s) => member(s, workerId)));
    await this.#redis.publish(this.keys.poolEvents(), 'leave');
  }

  /** Live workers per scanner (scanners without one are absent). */
  async live(now = Date.now()): Promise<PoolCounts> {
    const members = await this.#redis.zrangebyscore(this.keys.pools(), now, '+inf');
    const counts = new Map<string, number>();
    for (const m of members) {
      const scanner = m.slice(0, m.indexOf('|'));
      counts.set(scanner, (counts.get(scanner) ?? 0) + 1);
    }
    return counts;
  }
}

function member(scanner: string, workerId: string): string {
  return `${scanner}|${workerId}`;
}

/** Subscribes to pool join/leave events; `onEvent` is called for each. Returns the unsubscribe function. */
export async function subscribePoolEvents(
  subscriber: RedisClient,
  registry: PoolRegistry,
  onEvent: () => void,
): Promise<() => Promise<void>> {
  const channel = registry.keys.poolEvents();
  const listener = (ch: Buffer) => {
    if (ch.toString() === channel) onEvent();
  };
  subscriber.on('messageBuffer', listener);
  await subscriber.subscribe(channel);
  return async () => {
    subscriber.off('messageBuffer', listener);
    if (subscriber.status === 'ready') await subscriber.unsubscribe(channel).catch(() => undefined);
  };
}
