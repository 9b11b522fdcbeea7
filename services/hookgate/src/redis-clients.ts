/**
 * Every Redis client of a hookgate process comes from here: named (`CLIENT LIST` shows `hookgate-<name>`), its
 * round trips counted per connection (`hookgate_redis_round_trips_total`, how the benchmark counts them per
 * transaction) and its reachability logged once per change for the whole process.
 */
import {
  createRedisClient,
  type ConnectionLog,
  type RedisClient,
  type RedisClientOptions,
  type RedisTarget,
} from '@hookgate/redis';
import { hookgateMetrics } from '@hookgate/telemetry';

export interface RedisClientContext {
  redis: RedisTarget;
  connections: ConnectionLog;
}

export function redisClient(
  ctx: RedisClientContext,
  name: string,
  options: Omit<RedisClientOptions, 'connectionName' | 'onCommand'>,
): RedisClient {
  const roundTrips = hookgateMetrics().redisRoundTrips({ connection: name });
  const client = createRedisClient(ctx.redis, {
    ...options,
    connectionName: `hookgate-${name}`,
    onCommand: () => roundTrips.add(1),
  });
  ctx.connections.watch(client, name);
  return client;
}
