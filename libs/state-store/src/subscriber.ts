import type { RedisClient } from '@hookgate/redis';
import { TransactionStore, type ResultNotice } from './store.js';

/**
 * Subscribes one ingress instance to its own reply channel. Each instance reads only the results it waits for; a
 * lost message costs latency (the waiter re-reads the store at the deadline), never correctness.
 *
 * On a Cluster the channel is sharded (SSUBSCRIBE on the master that owns its slot; workers SPUBLISH there): no
 * broadcast to every node. The classic subscription stays as well, so results from workers of an earlier version
 * still arrive during a rolling upgrade (it costs nothing while nobody publishes on it).
 */
export async function subscribeResults(
  subscriber: RedisClient,
  store: TransactionStore,
  instanceId: string,
  onNotice: (n: ResultNotice) => void,
): Promise<() => Promise<void>> {
  const channel = store.keys.replyChannel(instanceId);
  const sharded = subscriber.isCluster;
  const listener = (ch: Buffer, payload: Buffer) => {
    if (ch.toString() !== channel) return;
    const notice = TransactionStore.decodeNotice(payload);
    if (notice) onNotice(notice);
  };
  subscriber.on('messageBuffer', listener);
  if (sharded) subscriber.on('smessageBuffer', listener);
  await subscriber.subscribe(channel);
  if (sharded) await subscriber.ssubscribe(channel);
  return async () => {
    subscriber.off('messageBuffer', listener);
    subscriber.off('smessageBuffer', listener);
    // Not while disconnected: the command would wait for a reconnect that may never come (shutdown, issue 11).
    if (subscriber.status === 'ready') {
      await subscriber.unsubscribe(channel).catch(() => undefined);
      if (sharded) await subscriber.sunsubscribe(channel).catch(() => undefined);
    }
  };
}
