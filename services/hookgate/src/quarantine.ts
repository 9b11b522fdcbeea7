/**
 * The quarantine of a frontend role (issue 16): the store (Redis by default, a directory for large volumes), the
 * release relay, and which protocols' quarantine verdicts hookgate keeps (per protocol; the others stay with the
 * MTA: Postfix hold, a Stalwart header).
 */
import { hostname } from 'node:os';
import type { Protocol } from '@hookgate/contracts';
import type { Lifecycle } from '@hookgate/lifecycle';
import type { RedisClient } from '@hookgate/redis';
import type { QuarantineKeeper } from '@hookgate/pipeline';
import {
  FsQuarantineStore,
  Quarantine,
  RedisQuarantineStore,
  quarantineKeeper,
  smtpRelay,
  type QuarantineStore,
} from '@hookgate/quarantine';
import type { HookgateConfig } from './config.js';

/** The answer per protocol for mail hookgate keeps; protocols absent here leave quarantine to the MTA. */
export function keptAnswers(config: HookgateConfig): Partial<Record<Protocol, 'reject' | 'discard'>> {
  const pick = (mode: string) => (mode === 'reject' || mode === 'discard' ? mode : undefined);
  const answers: Partial<Record<Protocol, 'reject' | 'discard'>> = {};
  const modes: [Protocol, string][] = [
    ['stalwart', config.protocols.stalwart.quarantine],
    ['draft01', config.protocols.draft01.quarantine],
    ['milter', config.milter.quarantine],
  ];
  for (const [protocol, mode] of modes) {
    const answer = pick(mode);
    if (answer) answers[protocol] = answer;
  }
  return answers;
}

export async function buildQuarantine(
  config: HookgateConfig,
  redis: RedisClient,
  lifecycle: Lifecycle,
  role: string,
): Promise<{ quarantine: Quarantine; keeper: QuarantineKeeper }> {
  const c = config.quarantine;
  let store: QuarantineStore;
  if (c.store === 'filesystem') {
    const fs = await FsQuarantineStore.open({
      directory: c.directory!,
      maxBytes: c.maxBytes,
      retentionMs: c.retentionMs,
    });
    lifecycle.onStop(`quarantine directory (${role})`, () => fs.close());
    store = fs;
  } else {
    store = new RedisQuarantineStore(redis, { prefix: config.redis.prefix, maxBytes: c.maxBytes });
  }
  const quarantine = new Quarantine({
    store,
    retentionMs: c.retentionMs,
    ...(c.relay ? { relay: smtpRelay({ url: c.relay, timeoutMs: c.relayTimeoutMs, name: hostname() }) } : {}),
    // A release that has not finished in a few relay timeouts was abandoned with its process.
    claimStaleMs: c.relayTimeoutMs * 4,
  });
  return {
    quarantine,
    keeper: quarantineKeeper(quarantine, { answers: keptAnswers(config), reply: c.reply }),
  };
}
