import type { RedisClient } from '@hookgate/redis';
import { TransactionStore, type ResultNotice } from './store.js';

/**
 * Subscribes one ingress instance to its own reply channel. Each instance reads only the results it waits for; a
 * lost message costs latency (the waiter re-reads the store at the deadline), never correctness.
 */
export async function subscribeResults(
  subscriber: RedisClient,
  store: TransactionStore,
  instanceId: string,
  onNotice: (n: ResultNotice) => void,
): Promise<() => Promise<void>> {
  const channel = store.keys.replyChannel(instanceId);
  const listener = (ch: Buffer, payload: Buffer) => {
    if (ch.toString() !== channel) return;
    const notice = TransactionStore.decodeNotice(payload);
    if (notice) onNotice(notice);
  };
  subscriber.on('messageBuffer', listener);
  await subscriber.subscribe(channel);
  return async () => {
    subscriber.off('messageBuffer', listener);
    // Not while disconnected: the command would wait for a reconnect that may never come (shutdown, issue 11).
    if (subscriber.status === 'ready') await subscriber.unsubscribe(channel).catch(() => undefined);
  };
}
