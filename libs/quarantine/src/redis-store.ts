import { ERR, HookgateError } from '@hookgate/contracts';
import type { RedisClient } from '@hookgate/redis';
import type {
  AuditEntry,
  ClaimResult,
  ItemMeta,
  ItemOutcome,
  ItemStatus,
  ItemSummary,
  ListFilter,
  ListPage,
  QuarantineStore,
  RemoveResult,
  StoredItem,
  Usage,
} from './types.js';
import { summarize, matches, pageLimit, parseCursor, cursorOf } from './filter.js';

export interface RedisQuarantineOptions {
  /** Key prefix, as for the transaction store; default `hg`. */
  prefix?: string;
  /** Message bytes held at most (the size cap). */
  maxBytes: number;
  /** Entries kept in the audit stream (approximately: XADD MAXLEN ~). Default 10 000. */
  auditEntries?: number;
}

/**
 * Expired items leave the indexes and the byte count; their hashes expire by themselves (PEXPIREAT). At most
 * ARGV[1] per call, so one call stays short however much expired at once.
 * KEYS: items zset, exp zset, held hash, bytes counter. ARGV[1] limit, ARGV[2] now.
 */
const PURGE_CHUNK = `
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(expired) do
  local s = redis.call('HGET', KEYS[3], id)
  if s then
    redis.call('DECRBY', KEYS[4], s)
    redis.call('HDEL', KEYS[3], id)
  end
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
end
`;

/**
 * keep: purges expired items, checks the size cap, stores the item, indexes it and audits, in one round trip.
 * KEYS[1] items zset (id by keptAt), KEYS[2] exp zset (id by expiresAt), KEYS[3] held hash (id → bytes),
 * KEYS[4] bytes counter, KEYS[5] item hash, KEYS[6] item audit list, KEYS[7] audit stream
 * ARGV[1] purge limit, ARGV[2] now, ARGV[3] id, ARGV[4] keptAt, ARGV[5] expiresAt, ARGV[6] size, ARGV[7] max bytes,
 * ARGV[8] meta JSON, ARGV[9] header section, ARGV[10] message, ARGV[11] audit JSON, ARGV[12] audit stream length
 * Returns the bytes held afterwards, or -1 when the message does not fit (nothing is stored).
 */
const KEEP = `${PURGE_CHUNK}
local total = tonumber(redis.call('GET', KEYS[4]) or '0')
local size = tonumber(ARGV[6])
if total + size > tonumber(ARGV[7]) then return -1 end
redis.call('HSET', KEYS[5], 'meta', ARGV[8], 'head', ARGV[9], 'msg', ARGV[10], 'status', 'held')
redis.call('PEXPIREAT', KEYS[5], ARGV[5])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[3], size)
redis.call('INCRBY', KEYS[4], size)
redis.call('RPUSH', KEYS[6], ARGV[11])
redis.call('PEXPIREAT', KEYS[6], ARGV[5])
redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[12], '*', 'e', ARGV[11])
return total + size
`;

/**
 * usage: purges expired items and returns { bytes held, items held }.
 * KEYS as PURGE_CHUNK. ARGV[1] purge limit, ARGV[2] now.
 */
const USAGE = `${PURGE_CHUNK}
return { tonumber(redis.call('GET', KEYS[4]) or '0'), redis.call('HLEN', KEYS[3]) }
`;

/**
 * claim: marks a held item `releasing` and returns its metadata and message.
 * KEYS[1] item hash. ARGV[1] now, ARGV[2] stale ms (an older claim is abandoned: its process died mid-release).
 * Returns {1, meta, msg}, or {0} not found, {-2} released, {-3} deleted, {-4} a release is in progress.
 */
const CLAIM = `
local r = redis.call('HMGET', KEYS[1], 'status', 'claimAt')
if not r[1] then return {0} end
if r[1] == 'released' then return {-2} end
if r[1] == 'deleted' then return {-3} end
if r[1] == 'releasing' and tonumber(r[2] or '0') > tonumber(ARGV[1]) - tonumber(ARGV[2]) then return {-4} end
redis.call('HSET', KEYS[1], 'status', 'releasing', 'claimAt', ARGV[1])
local m = redis.call('HMGET', KEYS[1], 'meta', 'msg')
return {1, m[1], m[2]}
`;

/** The item's bytes leave the count (shared by settle and remove). KEYS[2] held, KEYS[3] bytes; ARGV[1] id. */
const RELEASE_BYTES = `
local s = redis.call('HGET', KEYS[2], ARGV[1])
if s then
  redis.call('DECRBY', KEYS[3], s)
  redis.call('HDEL', KEYS[2], ARGV[1])
end
`;

/**
 * settle: ends a claim. Released: the message is dropped and the outcome kept; otherwise the item is held again.
 * KEYS[1] item hash, KEYS[2] held hash, KEYS[3] bytes counter, KEYS[4] item audit list, KEYS[5] audit stream
 * ARGV[1] id, ARGV[2] '1' released / '0' not, ARGV[3] outcome JSON, ARGV[4] audit JSON, ARGV[5] stream length
 */
const SETTLE = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  if ARGV[2] == '1' then
    redis.call('HSET', KEYS[1], 'status', 'released', 'outcome', ARGV[3])
    redis.call('HDEL', KEYS[1], 'msg', 'claimAt')
    ${RELEASE_BYTES}
  else
    redis.call('HSET', KEYS[1], 'status', 'held')
    redis.call('HDEL', KEYS[1], 'claimAt')
  end
  redis.call('RPUSH', KEYS[4], ARGV[4])
end
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'e', ARGV[4])
return 1
`;

/**
 * remove: drops the message and leaves a tombstone until the item expires.
 * KEYS as settle. ARGV[1] id, ARGV[2] now, ARGV[3] stale ms, ARGV[4] outcome JSON, ARGV[5] audit JSON, ARGV[6] stream
 * length. Returns 1 deleted, 0 not found, -3 already deleted, -4 a release is in progress.
 */
const REMOVE = `
local r = redis.call('HMGET', KEYS[1], 'status', 'claimAt')
if not r[1] then return 0 end
if r[1] == 'deleted' then return -3 end
if r[1] == 'releasing' and tonumber(r[2] or '0') > tonumber(ARGV[2]) - tonumber(ARGV[3]) then return -4 end
redis.call('HSET', KEYS[1], 'status', 'deleted', 'outcome', ARGV[4])
redis.call('HDEL', KEYS[1], 'msg', 'claimAt')
${RELEASE_BYTES}
redis.call('RPUSH', KEYS[4], ARGV[5])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[6], '*', 'e', ARGV[5])
return 1
`;

type Arg = string | number | Buffer;
type Client = RedisClient & {
  hgqKeep(...args: Arg[]): Promise<number>;
  hgqUsage(...args: Arg[]): Promise<[number, number]>;
  hgqClaimBuffer(...args: Arg[]): Promise<[number, Buffer?, Buffer?]>;
  hgqSettle(...args: Arg[]): Promise<number>;
  hgqRemove(...args: Arg[]): Promise<number>;
};

const PURGE_LIMIT = 200;
const SCAN_BATCH = 200;
/** Items looked at per list call at most; a page that found fewer matches still returns a cursor. */
const SCAN_MAX = 5_000;

/**
 * The quarantine in Redis. Every key shares the `{q}` hash tag, so the scripts stay Cluster-safe; the quarantine
 * therefore lives on one shard (docs/operations.md: sizing; use the directory store for large volumes).
 *
 *   <prefix>:{q}:items     zset   id by keptAt (listing, newest first)
 *   <prefix>:{q}:exp       zset   id by expiresAt (purging)
 *   <prefix>:{q}:held      hash   id → message bytes, for items whose message is still kept
 *   <prefix>:{q}:bytes     string message bytes held in total (the size cap)
 *   <prefix>:{q}:i:<id>    hash   meta (JSON), head, msg, status, claimAt, outcome (JSON); expires with the item
 *   <prefix>:{q}:a:<id>    list   the item's audit entries (JSON); expires with the item
 *   <prefix>:{q}:audit     stream every action (field e: JSON), capped
 */
export class RedisQuarantineStore implements QuarantineStore {
  readonly kind = 'redis';
  readonly #redis: Client;
  readonly #p: string;
  readonly #maxBytes: number;
  readonly #auditEntries: number;

  constructor(redis: RedisClient, options: RedisQuarantineOptions) {
    this.#p = `${options.prefix ?? 'hg'}:{q}`;
    this.#maxBytes = options.maxBytes;
    this.#auditEntries = options.auditEntries ?? 10_000;
    if (!('hgqKeep' in redis)) {
      redis.defineCommand('hgqKeep', { numberOfKeys: 7, lua: KEEP });
      redis.defineCommand('hgqUsage', { numberOfKeys: 4, lua: USAGE });
      redis.defineCommand('hgqClaim', { numberOfKeys: 1, lua: CLAIM });
      redis.defineCommand('hgqSettle', { numberOfKeys: 5, lua: SETTLE });
      redis.defineCommand('hgqRemove', { numberOfKeys: 5, lua: REMOVE });
    }
    this.#redis = redis as Client;
  }

  #k(name: string): string {
    return `${this.#p}:${name}`;
  }
  #item(id: string): string {
    return `${this.#p}:i:${id}`;
  }
  #itemAudit(id: string): string {
    return `${this.#p}:a:${id}`;
  }
  #index(): string[] {
    return [this.#k('items'), this.#k('exp'), this.#k('held'), this.#k('bytes')];
  }
  /** KEYS of the scripts that end an item's hold (SETTLE, REMOVE): item, held, bytes, item audit, audit stream. */
  #holdKeys(id: string): string[] {
    return [this.#item(id), this.#k('held'), this.#k('bytes'), this.#itemAudit(id), this.#k('audit')];
  }

  async keep(meta: ItemMeta, message: Uint8Array, head: Uint8Array, audit: AuditEntry): Promise<void> {
    const held = await this.#redis.hgqKeep(
      ...this.#index(),
      this.#item(meta.id),
      this.#itemAudit(meta.id),
      this.#k('audit'),
      PURGE_LIMIT,
      Date.now(),
      meta.id,
      meta.keptAt,
      meta.expiresAt,
      meta.size,
      this.#maxBytes,
      JSON.stringify(meta),
      buf(head),
      buf(message),
      JSON.stringify(audit),
      this.#auditEntries,
    );
    if (Number(held) < 0)
      throw new HookgateError(
        ERR.QUARANTINE_FULL,
        `quarantine full: ${meta.size} bytes do not fit under the cap of ${this.#maxBytes}`,
        { retryable: true },
      );
  }

  async list(filter: ListFilter, now: number): Promise<ListPage> {
    await this.usage(now);
    const limit = pageLimit(filter.limit);
    const after = parseCursor(filter.cursor);
    let max: string = after
      ? String(after.keptAt)
      : filter.until !== undefined
        ? String(filter.until)
        : '+inf';
    const min = filter.since !== undefined ? String(filter.since) : '-inf';
    const items: ItemSummary[] = [];
    let scanned = 0;
    let skipUntil = after?.id;
    let last: { keptAt: number; id: string } | undefined;
    for (;;) {
      const ids = await this.#redis.zrevrangebyscore(
        this.#k('items'),
        max,
        min,
        'WITHSCORES',
        'LIMIT',
        0,
        SCAN_BATCH,
      );
      if (ids.length === 0) return { items };
      const batch: { id: string; keptAt: number }[] = [];
      for (let i = 0; i < ids.length; i += 2) batch.push({ id: ids[i]!, keptAt: Number(ids[i + 1]) });
      // Items kept in the same millisecond as the cursor: skip up to and including the cursor's id.
      const fresh = skipUntil ? batch.slice(batch.findIndex((b) => b.id === skipUntil) + 1) : batch;
      const rows = await this.#summaries(fresh.map((b) => b.id));
      for (let i = 0; i < fresh.length; i++) {
        scanned++;
        last = fresh[i]!;
        const row = rows[i];
        if (row && matches(row, filter)) items.push(row);
        if (items.length >= limit) return { items, next: cursorOf(last) };
        if (scanned >= SCAN_MAX) return { items, next: cursorOf(last) };
      }
      if (ids.length / 2 < SCAN_BATCH) return { items };
      // The next batch starts at the last score seen (inclusive), skipping what this batch covered.
      const tail = batch[batch.length - 1]!;
      max = String(tail.keptAt);
      skipUntil = tail.id;
    }
  }

  async #summaries(ids: string[]): Promise<(ItemSummary | undefined)[]> {
    if (ids.length === 0) return [];
    const pipe = this.#redis.pipeline();
    for (const id of ids) pipe.hmget(this.#item(id), 'meta', 'status', 'outcome');
    const replies = (await pipe.exec()) ?? [];
    return replies.map(([err, r]) => {
      if (err) throw err;
      const [meta, status, outcome] = r as [string | null, string | null, string | null];
      if (!meta || !status) return undefined;
      return summarize(
        JSON.parse(meta) as ItemMeta,
        status as ItemStatus,
        outcome ? (JSON.parse(outcome) as ItemOutcome) : undefined,
      );
    });
  }

  async get(id: string, body: boolean): Promise<StoredItem | undefined> {
    const pipe = this.#redis.pipeline();
    pipe.hmgetBuffer(this.#item(id), 'meta', 'status', 'outcome', 'head', ...(body ? ['msg'] : []));
    pipe.lrange(this.#itemAudit(id), 0, -1);
    const [[e1, fields], [e2, audit]] = ((await pipe.exec()) ?? []) as [
      [Error | null, (Buffer | null)[]],
      [Error | null, string[]],
    ];
    if (e1) throw e1;
    if (e2) throw e2;
    const [meta, status, outcome, head, msg] = fields;
    if (!meta || !status) return undefined;
    return {
      meta: JSON.parse(meta.toString('utf8')) as ItemMeta,
      status: status.toString() as ItemStatus,
      ...(outcome ? { outcome: JSON.parse(outcome.toString('utf8')) as ItemOutcome } : {}),
      head: head ?? Buffer.alloc(0),
      ...(msg ? { message: msg } : {}),
      audit: audit.map((a) => JSON.parse(a) as AuditEntry),
    };
  }

  async claim(id: string, now: number, staleMs: number): Promise<ClaimResult> {
    const r = await this.#redis.hgqClaimBuffer(this.#item(id), now, staleMs);
    const code = Number(r[0]);
    if (code === 1 && r[1] && r[2])
      return { ok: true, meta: JSON.parse(r[1].toString('utf8')) as ItemMeta, message: r[2] };
    return {
      ok: false,
      why: code === -2 ? 'released' : code === -3 ? 'deleted' : code === -4 ? 'busy' : 'not-found',
    };
  }

  async settle(
    id: string,
    result: { released: true; outcome: ItemOutcome } | { released: false },
    audit: AuditEntry,
  ): Promise<void> {
    await this.#redis.hgqSettle(
      ...this.#holdKeys(id),
      id,
      result.released ? '1' : '0',
      result.released ? JSON.stringify(result.outcome) : '',
      JSON.stringify(audit),
      this.#auditEntries,
    );
  }

  async remove(
    id: string,
    outcome: ItemOutcome,
    audit: AuditEntry,
    now: number,
    staleMs: number,
  ): Promise<RemoveResult> {
    const r = Number(
      await this.#redis.hgqRemove(
        ...this.#holdKeys(id),
        id,
        now,
        staleMs,
        JSON.stringify(outcome),
        JSON.stringify(audit),
        this.#auditEntries,
      ),
    );
    return r === 1 ? 'deleted' : r === -3 ? 'already-deleted' : r === -4 ? 'busy' : 'not-found';
  }

  async record(audit: AuditEntry): Promise<void> {
    const pipe = this.#redis.pipeline();
    pipe.rpush(this.#itemAudit(audit.id), JSON.stringify(audit));
    pipe.xadd(this.#k('audit'), 'MAXLEN', '~', this.#auditEntries, '*', 'e', JSON.stringify(audit));
    for (const [err] of (await pipe.exec()) ?? []) if (err) throw err;
  }

  async auditTrail(limit: number): Promise<AuditEntry[]> {
    const entries = await this.#redis.xrevrange(this.#k('audit'), '+', '-', 'COUNT', limit);
    return entries.flatMap(([, fields]) => {
      const i = fields.indexOf('e');
      return i >= 0 && fields[i + 1] ? [JSON.parse(fields[i + 1]!) as AuditEntry] : [];
    });
  }

  async usage(now: number): Promise<Usage> {
    const [bytes, held] = await this.#redis.hgqUsage(...this.#index(), PURGE_LIMIT, now);
    return { bytes: Number(bytes), held: Number(held), maxBytes: this.#maxBytes };
  }
}

function buf(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
