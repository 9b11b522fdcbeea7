/**
 * Idempotency for draft-01 hook calls: the answer to a request id is stored once and replayed to retries, on any
 * ingress replica, without a second scan. A duplicate that arrives while the first is still being scanned waits
 * for the first answer instead of scanning again.
 *
 * Records are scoped to the MTA identity, not to one registration: the rspamd bridge (and any MTA following the
 * draft's 404 rule) registers again and resends the *same* request id to the *new* registration, and that retry
 * must still get the stored answer. The identity keeps MTAs apart, so one MTA can never read another's answers.
 *
 *   <prefix>:{d1i:<digest>}:rq:<requestId>   string  'p:<owner>' while being scanned (TTL = lease),
 *                                                     then msgpack StoredAnswer (TTL = dedupe window)
 */
import type { RedisClient } from '@hookgate/redis';
import type { Draft01Operations } from '@hookgate/contracts';
import { Draft01Keys } from './registrations.js';
import { pack, unpack } from './codec.js';

/** An answer as replayed to a retry. */
export interface StoredAnswer {
  v: 1;
  /** 200 with `ops`, or 204. */
  status: 200 | 204;
  ops?: Draft01Operations;
  /** The registration that produced it; a replay to another registration of the identity filters `ops` again. */
  registrationId: string;
  /** hookgate's request and transaction ids of the scan that produced it (x-hookgate-* headers). */
  reqId?: string;
  txnId?: string;
  /** Epoch ms. */
  at: number;
}

export type ClaimResult = { kind: 'claimed' } | { kind: 'done'; answer: StoredAnswer } | { kind: 'pending' };

/**
 * claimRequest: takes the request id for this owner unless a claim or an answer exists.
 * KEYS[1] dedupe key
 * ARGV[1] owner token, ARGV[2] lease ms
 * Returns {1} when claimed, or {0, current value} ('p:<owner>' while pending, else the stored answer).
 */
export const CLAIM_REQUEST = `
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], 'p:' .. ARGV[1], 'PX', ARGV[2])
  return {1}
end
return {0, cur}
`;

/**
 * releaseRequest: drops this owner's pending claim (the answer is not to be replayed), leaving answers alone.
 * KEYS[1] dedupe key
 * ARGV[1] owner token
 * Returns 1 if released.
 */
export const RELEASE_REQUEST = `
if redis.call('GET', KEYS[1]) == 'p:' .. ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export interface DedupeOptions {
  prefix?: string;
  /** How long answers are kept for replay, ms (at least the MTA's retry window). Default 10 minutes. */
  windowMs?: number;
}

type ScriptClient = RedisClient & {
  hgD1ClaimBuffer(k1: string, ...argv: (string | number)[]): Promise<[number, Buffer?]>;
  hgD1Release(k1: string, ...argv: (string | number)[]): Promise<number>;
};

const isAnswer = (x: Record<string, unknown>) =>
  (x.status === 200 || x.status === 204) && typeof x.registrationId === 'string';
const PENDING = Buffer.from('p:');

export class DedupeStore {
  readonly keys: Draft01Keys;
  readonly windowMs: number;
  readonly #redis: ScriptClient;

  constructor(redis: RedisClient, options: DedupeOptions = {}) {
    this.keys = new Draft01Keys(options.prefix ?? 'hg');
    this.windowMs = options.windowMs ?? 600_000;
    if (!('hgD1Claim' in redis)) {
      redis.defineCommand('hgD1Claim', { numberOfKeys: 1, lua: CLAIM_REQUEST });
      redis.defineCommand('hgD1Release', { numberOfKeys: 1, lua: RELEASE_REQUEST });
    }
    this.#redis = redis as ScriptClient;
  }

  /** One attempt: claims the request id for `owner` for `leaseMs`, or reports the answer or pending claim found. */
  async claim(identity: string, requestId: string, owner: string, leaseMs: number): Promise<ClaimResult> {
    const [claimed, current] = await this.#redis.hgD1ClaimBuffer(
      this.keys.request(identity, requestId),
      owner,
      Math.max(1, Math.round(leaseMs)),
    );
    if (Number(claimed) === 1) return { kind: 'claimed' };
    if (!current || current.subarray(0, 2).equals(PENDING)) return { kind: 'pending' };
    return { kind: 'done', answer: unpack<StoredAnswer>(current, 'draft-01 stored answer', isAnswer) };
  }

  /**
   * Claims, or waits while another request with the same id is being scanned (on any replica) until its answer is
   * stored, its claim lapses (then this one claims it), or `untilMs` passes. Polls with a growing interval: a
   * concurrent duplicate is rare (an MTA retrying before the first answer came), so no subscription is kept.
   */
  async claimOrWait(
    identity: string,
    requestId: string,
    owner: string,
    leaseMs: number,
    untilMs: number,
    now: () => number = Date.now,
  ): Promise<ClaimResult> {
    let delay = 20;
    for (;;) {
      const r = await this.claim(identity, requestId, owner, leaseMs);
      if (r.kind !== 'pending') return r;
      const left = untilMs - now();
      if (left <= 0) return r;
      await new Promise((resolve) => setTimeout(resolve, Math.min(delay, left)));
      delay = Math.min(250, Math.round(delay * 1.5));
    }
  }

  /** Stores the answer for replay, replacing the pending claim. */
  async complete(identity: string, requestId: string, answer: StoredAnswer): Promise<void> {
    await this.#redis.set(this.keys.request(identity, requestId), pack(answer), 'PX', this.windowMs);
  }

  /** Gives up a claim without storing an answer, so a retry scans again (used for error answers). */
  async release(identity: string, requestId: string, owner: string): Promise<void> {
    await this.#redis.hgD1Release(this.keys.request(identity, requestId), owner);
  }
}
