/**
 * Every Redis client of a hookgate process comes from here: named (`CLIENT LIST` shows `hookgate-<name>`), its
 * commands counted per connection (`hookgate_redis_commands_total`, how the benchmark counts round trips per
 * transaction) and its reachability logged once per change for the whole process.
 */
import { createRedisClient, type ConnectionLog, type RedisClient, type RedisClientOptions, type RedisTarget } from '@hookgate/redis';
import { hookgateMetrics } from '@hookgate/telemetry';

export interface RedisClientContext {
  redis: RedisTarget;
  connections: ConnectionLog;
}

export function redisClient(ctx: RedisClientContext, name: string, options: Omit<RedisClientOptions, 'connectionName' | 'onCommand'>): RedisClient {
  const commands = hookgateMetrics().redisCommands;
  const attributes = { connection: name };
  const client = createRedisClient(ctx.redis, { ...options, connectionName: `hookgate-${name}`, onCommand: () => commands.add(1, attributes) });
  ctx.connections.watch(client, name);
  return client;
}
