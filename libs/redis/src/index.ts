/**
 * The one place that creates ioredis clients and sets their defaults. Callers ask for a role; the creator closes
 * what it created.
 */
import { Redis, Cluster, type RedisOptions, type ClusterOptions } from 'ioredis';
import { withTimeout } from '@hookgate/contracts';

/** Where Redis is: one server, a Sentinel group, or a Cluster (seed nodes). */
export type RedisTarget =
  | { mode: 'standalone'; url: string }
  | {
      mode: 'sentinel';
      sentinels: { host: string; port: number }[];
      name: string;
      password?: string;
      db?: number;
    }
  | { mode: 'cluster'; nodes: { host: string; port: number }[]; password?: string };

/**
 * - `command`: request-path commands (state store, producers). Fails fast while disconnected and times out each
 *   command, so a Redis outage becomes a fallback answer instead of a hang.
 * - `worker`: BullMQ workers; blocking commands, retried for ever (BullMQ requires `maxRetriesPerRequest: null`).
 * - `subscriber`: Pub/Sub (sharded Pub/Sub too on a Cluster); reconnects and resubscribes for ever.
 */
export type RedisRole = 'command' | 'worker' | 'subscriber';

export type RedisClient = Redis | Cluster;

export interface RedisClientOptions {
  role: RedisRole;
  /** Per-command timeout for the `command` role, ms. */
  commandTimeoutMs?: number;
  /** Shown in `CLIENT LIST`. */
  connectionName?: string;
  /** Called for every round trip: a command sent on its own (a script call counts once), or a whole pipeline. */
  onCommand?: () => void;
}

function roleOptions(o: RedisClientOptions): RedisOptions {
  const base: RedisOptions = {
    connectionName: o.connectionName ?? `hookgate-${o.role}`,
    // Reconnect quickly, capped: an outage should heal within a stage deadline where it can.
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    lazyConnect: true,
  };
  switch (o.role) {
    case 'command':
      return {
        ...base,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        commandTimeout: o.commandTimeoutMs ?? 1000,
      };
    case 'worker':
      return { ...base, maxRetriesPerRequest: null, enableReadyCheck: true };
    case 'subscriber':
      return { ...base, maxRetriesPerRequest: null, autoResubscribe: true };
  }
}

export function parseRedisUrl(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 6379) };
}

/** Creates a client for a role. It is not connected: call `connectRedis`. */
export function createRedisClient(target: RedisTarget, options: RedisClientOptions): RedisClient {
  const client = newClient(target, roleOptions(options), options.role);
  if (options.onCommand) countCommands(client, options.onCommand);
  return client;
}

/**
 * Counts round trips: every command sent on its own (a script call counts once), and every pipeline or MULTI once
 * however many commands it carries (ioredis writes them together).
 */
function countCommands(client: RedisClient, onCommand: () => void): void {
  type Send = (command: unknown, stream?: unknown, ...rest: unknown[]) => unknown;
  const target = client as unknown as {
    sendCommand: Send;
    pipeline: (...a: unknown[]) => { exec: (...a: unknown[]) => unknown };
    multi: (...a: unknown[]) => { exec: (...a: unknown[]) => unknown };
  };
  const send = target.sendCommand.bind(client) as Send;
  // Commands of a pipeline arrive with the pipeline's stream: those are counted at exec.
  target.sendCommand = (command, stream, ...rest) => {
    if (stream === undefined) onCommand();
    return send(command, stream, ...rest);
  };
  for (const batch of ['pipeline', 'multi'] as const) {
    const make = target[batch].bind(client);
    target[batch] = (...args: unknown[]) => {
      const p = make(...args);
      const exec = p.exec.bind(p);
      p.exec = (...a: unknown[]) => {
        onCommand();
        return exec(...a);
      };
      return p;
    };
  }
}

function newClient(target: RedisTarget, ro: RedisOptions, role: RedisRole): RedisClient {
  switch (target.mode) {
    case 'standalone':
      return new Redis(target.url, ro);
    case 'sentinel':
      return new Redis({
        ...ro,
        sentinels: target.sentinels,
        name: target.name,
        // Follow `+switch-master` from the sentinels. Without it a client stays on the demoted master until
        // Sentinel reconfigures it (up to ~10 s after a failover), and every write in that window is lost when
        // the old master resyncs from the new one (issue 8).
        failoverDetector: true,
        ...(target.password ? { password: target.password } : {}),
        ...(target.db !== undefined ? { db: target.db } : {}),
      });
    case 'cluster': {
      const co: ClusterOptions = {
        redisOptions: { ...ro, ...(target.password ? { password: target.password } : {}) },
        lazyConnect: true,
        enableOfflineQueue: ro.enableOfflineQueue ?? true,
        clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
        // Result notices use sharded Pub/Sub on a Cluster (ADR 0008): one subscriber connection per master,
        // resubscribed by ioredis when slots move (a failover).
        ...(role === 'subscriber' ? { shardedSubscribers: true } : {}),
      };
      return new Cluster(target.nodes, co);
    }
  }
}

/** Connects and waits for `ready`, failing after `timeoutMs`. */
export async function connectRedis(client: RedisClient, timeoutMs = 10_000): Promise<void> {
  if (client.status === 'ready') return;
  await withTimeout(client.connect(), timeoutMs, () => {
    throw new Error(`Redis not ready after ${timeoutMs} ms`);
  });
}

/** True when the client can send commands now (not connecting, reconnecting or closed). */
export function isConnected(client: RedisClient): boolean {
  return client.status === 'ready';
}

/**
 * Closes gracefully (QUIT), falling back to disconnect after `timeoutMs`; at once when not connected, so a Redis
 * outage never holds up shutdown. Idempotent.
 */
export async function closeRedis(client: RedisClient, timeoutMs = 2000): Promise<void> {
  if (client.status === 'end') return;
  if (!isConnected(client)) {
    client.disconnect();
    return;
  }
  try {
    await withTimeout(
      client.quit().catch(() => undefined),
      timeoutMs,
    );
  } finally {
    client.disconnect();
  }
}

export { ConnectionLog, type ConnectionLogger } from './connection-log.js';
export { Redis, Cluster };
