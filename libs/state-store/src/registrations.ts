/**
 * draft-01 registrations in Redis, shared by every ingress replica: the registration record (identity binding,
 * negotiated capabilities, expiry), a per-identity index that enforces the registration limit, and per-registration
 * statistics for the status endpoint.
 *
 * Key layout (same conventions as keys.ts; every key of a registration shares the `{d1:<id>}` hash tag, every key
 * of an identity the `{d1i:<digest>}` tag, so each script touches one Cluster slot):
 *
 *   <prefix>:{d1:<id>}:reg          string  msgpack Draft01Registration; TTL until expiry + grace + tombstone
 *   <prefix>:{d1:<id>}:stats        hash    counters and hourly/daily buckets (see STATS_RECORD)
 *   <prefix>:{d1i:<digest>}:regs    zset    registration id -> expiresAt (ms), for the per-identity limit
 *
 * Identities are hashed into keys (sha256, base64url): they come from configuration and may hold any character,
 * including the braces of a hash tag.
 */
import { createHash } from 'node:crypto';
import type { RedisClient } from '@hookgate/redis';
import type { Draft01Registration } from '@hookgate/contracts';
import { pack, unpack } from './codec.js';

export class Draft01Keys {
  constructor(readonly prefix: string) {}
  registration(id: string): string {
    return `${this.prefix}:{d1:${id}}:reg`;
  }
  stats(id: string): string {
    return `${this.prefix}:{d1:${id}}:stats`;
  }
  identityRegistrations(identity: string): string {
    return `${this.prefix}:{d1i:${identityDigest(identity)}}:regs`;
  }
  /** Dedupe record of one request id, scoped to the MTA identity (see dedupe.ts for why not the registration). */
  request(identity: string, requestId: string): string {
    return `${this.prefix}:{d1i:${identityDigest(identity)}}:rq:${requestId}`;
  }
}

/** A short, key-safe digest of an identity. */
export function identityDigest(identity: string): string {
  return createHash('sha256').update(identity).digest('base64url').slice(0, 22);
}

/**
 * registerIdentity: drops expired ids from the identity's index, refuses past the limit, adds the new id.
 * KEYS[1] identity zset
 * ARGV[1] now ms, ARGV[2] registration id, ARGV[3] its expiresAt ms, ARGV[4] limit, ARGV[5] key ttl ms
 * Returns the number of live registrations after adding, or -1 when the limit was already reached.
 */
export const REGISTER_IDENTITY = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return -1 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
-- never shorten the index's life below a registration that expires later
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[5]) then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
return redis.call('ZCARD', KEYS[1])
`;

/**
 * recordInvocation: counts one answered hook call.
 * KEYS[1] stats hash
 * ARGV[1] now ms, ARGV[2] '1' if the call succeeded (2xx) else '0', ARGV[3] response time ms (integer),
 * ARGV[4] key ttl ms
 * Fields: n / e totals, ms summed response time, last (epoch ms), cf consecutive failures,
 * ih:<hour> eh:<hour> per-hour counts (last 24 h), id:<day> ed:<day> per-day counts (last 7 and 30 days).
 * Buckets older than the windows are deleted as time moves on. Returns the number of invocations.
 */
export const STATS_RECORD = `
local now = tonumber(ARGV[1])
local hour = math.floor(now / 3600000)
local day = math.floor(now / 86400000)
local ok = ARGV[2] == '1'
redis.call('HINCRBY', KEYS[1], 'ms', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'ih:' .. hour, 1)
redis.call('HINCRBY', KEYS[1], 'id:' .. day, 1)
if ok then
  redis.call('HSET', KEYS[1], 'cf', 0)
else
  redis.call('HINCRBY', KEYS[1], 'e', 1)
  redis.call('HINCRBY', KEYS[1], 'eh:' .. hour, 1)
  redis.call('HINCRBY', KEYS[1], 'ed:' .. day, 1)
  redis.call('HINCRBY', KEYS[1], 'cf', 1)
end
redis.call('HSET', KEYS[1], 'last', ARGV[1])
redis.call('HDEL', KEYS[1], 'ih:' .. (hour - 25), 'eh:' .. (hour - 25), 'id:' .. (day - 31), 'ed:' .. (day - 31))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return redis.call('HINCRBY', KEYS[1], 'n', 1)
`;

export interface RegistrationStoreOptions {
  /** Key prefix; default `hg`. */
  prefix?: string;
  /**
   * How long an id keeps working after it expired, was deregistered or was replaced by an explicit renewal, ms:
   * requests in flight and clock skew between MTA and scanner still get answers. Default 30 s.
   */
  graceMs?: number;
  /** How long the record of an expired or deregistered registration is kept (410 instead of 404), ms. Default 24 h. */
  tombstoneMs?: number;
}

/** Where a registration stands at a given moment. */
export type RegistrationState =
  /** Serve it. `grace` = past expiry, deregistration or renewal, but within the grace period. */
  | { kind: 'active' }
  | { kind: 'grace'; why: 'expired' | 'deregistered' | 'renewed' }
  | { kind: 'expired' }
  | { kind: 'deregistered' };

export interface RegistrationStats {
  invocations: { total: number; last24h: number; last7d: number; last30d: number };
  errors: { total: number; last24h: number; last7d: number; last30d: number };
  averageResponseMs: number;
  /** Epoch ms of the last answered hook call, if any. */
  lastInvocation: number | null;
  consecutiveFailures: number;
}

type ScriptClient = RedisClient & {
  hgD1RegisterIdentity(k1: string, ...argv: (string | number)[]): Promise<number>;
  hgD1StatsRecord(k1: string, ...argv: (string | number)[]): Promise<number>;
};

const isRegistration = (x: Record<string, unknown>) =>
  typeof x.id === 'string' && typeof x.identity === 'string' && typeof x.expiresAt === 'number';

/** draft-01 registration records, the per-identity limit and statistics. One Redis call per operation. */
export class RegistrationStore {
  readonly keys: Draft01Keys;
  readonly graceMs: number;
  readonly tombstoneMs: number;
  readonly #redis: ScriptClient;

  constructor(redis: RedisClient, options: RegistrationStoreOptions = {}) {
    this.keys = new Draft01Keys(options.prefix ?? 'hg');
    this.graceMs = options.graceMs ?? 30_000;
    this.tombstoneMs = options.tombstoneMs ?? 86_400_000;
    if (!('hgD1RegisterIdentity' in redis)) {
      redis.defineCommand('hgD1RegisterIdentity', { numberOfKeys: 1, lua: REGISTER_IDENTITY });
      redis.defineCommand('hgD1StatsRecord', { numberOfKeys: 1, lua: STATS_RECORD });
    }
    this.#redis = redis as ScriptClient;
  }

  /**
   * Stores a new registration unless its identity already holds `maxPerIdentity` live ones.
   * Returns false at the limit (nothing stored).
   */
  async create(reg: Draft01Registration, maxPerIdentity: number, now: number): Promise<boolean> {
    const indexKey = this.keys.identityRegistrations(reg.identity);
    const n = await this.#redis.hgD1RegisterIdentity(
      indexKey,
      now,
      reg.id,
      reg.expiresAt,
      maxPerIdentity,
      Math.max(1, reg.expiresAt - now + this.graceMs),
    );
    if (Number(n) < 0) return false;
    try {
      await this.#write(reg, now);
    } catch (err) {
      await this.#redis.zrem(indexKey, reg.id).catch(() => undefined);
      throw err;
    }
    return true;
  }

  async get(id: string): Promise<Draft01Registration | undefined> {
    const b = await this.#redis.getBuffer(this.keys.registration(id));
    return b ? unpack<Draft01Registration>(b, 'draft-01 registration', isRegistration) : undefined;
  }

  /** Whether hooks with this registration are served at `now`, and why not. */
  state(reg: Draft01Registration, now: number): RegistrationState {
    if (reg.status === 'deregistered') {
      return now < (reg.deregisteredAt ?? 0) + this.graceMs
        ? { kind: 'grace', why: 'deregistered' }
        : { kind: 'deregistered' };
    }
    if (now >= reg.expiresAt + this.graceMs) return { kind: 'expired' };
    if (reg.retiresAt !== undefined && now >= reg.retiresAt) return { kind: 'expired' };
    if (now >= reg.expiresAt) return { kind: 'grace', why: 'expired' };
    if (reg.retiresAt !== undefined) return { kind: 'grace', why: 'renewed' };
    return { kind: 'active' };
  }

  /** Marks a registration deregistered (idempotent: a second call keeps the first time) and frees its slot. */
  async deregister(reg: Draft01Registration, now: number): Promise<Draft01Registration> {
    if (reg.status === 'deregistered') return reg;
    const next: Draft01Registration = { ...reg, status: 'deregistered', deregisteredAt: now };
    await this.#write(next, now);
    await this.#redis.zrem(this.keys.identityRegistrations(reg.identity), reg.id);
    return next;
  }

  /**
   * An explicit renewal: `old` was replaced by `newId`. It keeps working for the grace period (or until its own
   * expiry, whichever is first) and stops counting against the limit.
   */
  async retire(old: Draft01Registration, newId: string, now: number): Promise<void> {
    if (old.status !== 'active' || old.replacedBy !== undefined) return;
    const next: Draft01Registration = {
      ...old,
      replacedBy: newId,
      retiresAt: Math.min(old.expiresAt + this.graceMs, now + this.graceMs),
    };
    await this.#write(next, now);
    await this.#redis.zrem(this.keys.identityRegistrations(old.identity), old.id);
  }

  /** Counts one answered hook call; `ok` = answered 2xx. */
  async recordInvocation(
    reg: Draft01Registration,
    ok: boolean,
    responseMs: number,
    now: number,
  ): Promise<void> {
    await this.#redis.hgD1StatsRecord(
      this.keys.stats(reg.id),
      now,
      ok ? '1' : '0',
      Math.max(0, Math.round(responseMs)),
      this.#ttl(reg, now),
    );
  }

  async stats(id: string, now: number): Promise<RegistrationStats> {
    const h = await this.#redis.hgetall(this.keys.stats(id));
    const num = (k: string) => Number(h[k] ?? 0) || 0;
    const hour = Math.floor(now / 3_600_000);
    const day = Math.floor(now / 86_400_000);
    const sum = (kind: 'i' | 'e', unit: 'h' | 'd', from: number, to: number) => {
      let s = 0;
      for (let t = from; t <= to; t++) s += num(`${kind}${unit}:${t}`);
      return s;
    };
    const counts = (kind: 'i' | 'e', total: number) => ({
      total,
      last24h: sum(kind, 'h', hour - 23, hour),
      last7d: sum(kind, 'd', day - 6, day),
      last30d: sum(kind, 'd', day - 29, day),
    });
    const total = num('n');
    return {
      invocations: counts('i', total),
      errors: counts('e', num('e')),
      averageResponseMs: total > 0 ? Math.round((num('ms') / total) * 10) / 10 : 0,
      lastInvocation: h.last ? Number(h.last) : null,
      consecutiveFailures: num('cf'),
    };
  }

  /** Key lifetime: until the registration cannot be served any more, plus the tombstone period. */
  #ttl(reg: Draft01Registration, now: number): number {
    const end =
      reg.status === 'deregistered'
        ? (reg.deregisteredAt ?? now) + this.graceMs
        : Math.min(reg.expiresAt, reg.retiresAt ?? Infinity) + this.graceMs;
    return Math.max(1000, end - now + this.tombstoneMs);
  }

  async #write(reg: Draft01Registration, now: number): Promise<void> {
    await this.#redis.set(this.keys.registration(reg.id), pack(reg), 'PX', this.#ttl(reg, now));
  }
}
