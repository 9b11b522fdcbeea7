import type { RedisClient } from '@hookgate/redis';
import type { ScanResult, StageRequest, VerdictRecord } from '@hookgate/contracts';
import { FIELD, StoreKeys } from './keys.js';
import { BEGIN_STAGE, FINALIZE, RECORD_RESULT } from './scripts.js';
import { pack, unpack } from './codec.js';
import { feedSummary, type FeedEntry } from './feed.js';

export interface StoreOptions {
  /** Key prefix; default `hg`. */
  prefix?: string;
  /** TTL of a transaction's state and records (never its message bytes), ms. Default 10 minutes. */
  ttlMs?: number;
  /** Stage requests kept per session in the log. Default 200. */
  maxLogEntries?: number;
  /**
   * Entries of the recent-verdicts feed (a capped stream the operator console reads); 0 = no feed. Default 0.
   * Each recorded stage then costs one XADD, sent with `finalize` (issue 16).
   */
  feedEntries?: number;
  /** Index transactions by the MTA's queue id (for lookups), for `ttlMs`. Default false. */
  indexQueueIds?: boolean;
}

/** A result notification as published to an ingress instance's channel. */
export interface ResultNotice {
  v: 1;
  sessionId: string;
  reqId: string;
  result: ScanResult;
}

export interface StoredRequest {
  request: StageRequest;
  message?: Uint8Array;
}

/** One entry of a session's stage log. */
export interface StageLogEntry {
  txn: number;
  stage: string;
  reqId: string;
}

type Arg = string | Buffer | number;
type ScriptClient = RedisClient & {
  hgBeginStage(k1: string, k2: string, k3: string, ...argv: Arg[]): Promise<number>;
  hgRecordResult(k1: string, ...argv: Arg[]): Promise<number>;
  hgFinalize(k1: string, k2: string, ...argv: Arg[]): Promise<number>;
};

const isResult = (x: Record<string, unknown>) =>
  typeof x.scanner === 'string' && typeof x.outcome === 'object';
const isRequest = (x: Record<string, unknown>) =>
  typeof x.stage === 'string' && typeof x.sessionId === 'string';
const isRecord = (x: Record<string, unknown>) => typeof x.reqId === 'string' && typeof x.verdict === 'object';

/** The stored form of a verdict record: results live in their own fields, so only their names are kept. */
type StoredRecord = VerdictRecord & { decidedWith?: string[] };

type ScriptPipeline = ReturnType<RedisClient['pipeline']> & {
  hgBeginStage(k1: string, k2: string, k3: string, ...argv: Arg[]): ScriptPipeline;
};

/** The reply of one command of a pipeline, or its error thrown. */
function pipelineReply(replies: [Error | null, unknown][] | null, i: number): unknown {
  const entry = replies?.[i];
  if (!entry) throw new Error('Redis pipeline returned no reply');
  if (entry[0]) throw entry[0];
  return entry[1];
}

/** What `recordResult` did: stored it, found one already stored, or found the request gone. */
export type RecordOutcome = 'stored' | 'duplicate' | 'expired';

/**
 * Transaction state and claim-checked message bytes in Redis. The request path makes one call per operation:
 * `beginStage` (state + bytes), `results` (only at the deadline), `finalize` (the verdict record, and the bytes
 * dropped once every scanner answered). Message bytes live only while scans are in flight (issue 11): their key
 * expires `messageTtlMs` after the stage began, which the pipeline sets just past the stage deadline.
 */
export class TransactionStore {
  readonly keys: StoreKeys;
  readonly ttlMs: number;
  readonly #maxLog: number;
  readonly #feedEntries: number;
  readonly #indexQueueIds: boolean;
  readonly #redis: ScriptClient;

  constructor(redis: RedisClient, options: StoreOptions = {}) {
    this.keys = new StoreKeys(options.prefix ?? 'hg');
    this.ttlMs = options.ttlMs ?? 600_000;
    this.#maxLog = options.maxLogEntries ?? 200;
    this.#feedEntries = options.feedEntries ?? 0;
    this.#indexQueueIds = options.indexQueueIds ?? false;
    if (!('hgBeginStage' in redis)) {
      redis.defineCommand('hgBeginStage', { numberOfKeys: 3, lua: BEGIN_STAGE });
      redis.defineCommand('hgRecordResult', { numberOfKeys: 1, lua: RECORD_RESULT });
      redis.defineCommand('hgFinalize', { numberOfKeys: 2, lua: FINALIZE });
    }
    this.#redis = redis as ScriptClient;
  }

  /**
   * Records a stage request of a session (and the message bytes, once) and returns its transaction number.
   * `request.txnId` is ignored: the transaction is the session's, decided atomically here. The bytes expire after
   * `messageTtlMs` (default: with the state).
   */
  async beginStage(request: StageRequest, message?: Uint8Array, messageTtlMs = this.ttlMs): Promise<number> {
    const { sessionId: sid, reqId } = request;
    const script = [
      this.keys.session(sid),
      this.keys.log(sid),
      this.keys.request(sid, reqId),
      request.stage,
      this.ttlMs,
      reqId,
      pack({ ...request, txnId: '' }),
      this.#maxLog,
    ] as const;
    if (!message || message.byteLength === 0) return Number(await this.#redis.hgBeginStage(...script));
    // The bytes go with a plain SET in the same round trip: through Lua they cost four times the Redis CPU.
    const bytes = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
    const batch = this.#redis.pipeline() as ScriptPipeline;
    batch.set(this.keys.message(sid, reqId), bytes, 'PX', Math.max(1, Math.ceil(messageTtlMs)));
    batch.hgBeginStage(...script);
    return Number(pipelineReply(await batch.exec(), 1));
  }

  /** Reads a stage request and its message bytes (workers), in one round trip; the bytes are absent once they left. */
  async loadRequest(sessionId: string, reqId: string): Promise<StoredRequest | undefined> {
    const replies = await this.#redis
      .pipeline()
      .hmgetBuffer(this.keys.request(sessionId, reqId), 'req', 'txn')
      .getBuffer(this.keys.message(sessionId, reqId))
      .exec();
    const [req, txn] = pipelineReply(replies, 0) as [Buffer | null, Buffer | null];
    const msg = pipelineReply(replies, 1) as Buffer | null;
    if (!req) return undefined;
    const request = unpack<StageRequest>(req, 'stage request', isRequest);
    request.txnId = `${sessionId}.${txn ? txn.toString() : '0'}`;
    return msg
      ? { request, message: new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength) }
      : { request };
  }

  /**
   * Stores a result once per scanner and notifies `replyTo`'s channel. On a single Redis or Sentinel the script
   * publishes (classic Pub/Sub, one round trip). On a Cluster, classic Pub/Sub is broadcast to every node, so the
   * notice goes by sharded Pub/Sub to the one shard that owns the channel; a script may not name a channel of
   * another slot, so SPUBLISH follows the script, only for a result it stored (docs/adr/0008-queue-shards-and-sharded-notifications.md).
   */
  async recordResult(
    sessionId: string,
    reqId: string,
    result: ScanResult,
    replyTo?: string,
  ): Promise<RecordOutcome> {
    const notice: ResultNotice = { v: 1, sessionId, reqId, result };
    const channel = replyTo ? this.keys.replyChannel(replyTo) : '';
    const sharded = this.#redis.isCluster;
    const stored = Number(
      await this.#redis.hgRecordResult(
        this.keys.request(sessionId, reqId),
        FIELD.RESULT + result.scanner,
        pack(result),
        sharded ? '' : channel,
        replyTo && !sharded ? pack(notice) : '',
      ),
    );
    if (stored === 1 && sharded && channel) await this.#redis.spublish(channel, pack(notice));
    return stored === 1 ? 'stored' : stored === 0 ? 'duplicate' : 'expired';
  }

  /** Every result stored for a stage request (read once at the deadline, for lost notifications). */
  async results(sessionId: string, reqId: string): Promise<ScanResult[]> {
    const all = await this.#redis.hgetallBuffer(this.keys.request(sessionId, reqId));
    return Object.entries(all).flatMap(([field, b]) =>
      field.startsWith(FIELD.RESULT) ? [unpack<ScanResult>(b, 'scan result', isResult)] : [],
    );
  }

  /**
   * Stores the verdict record once: a later call (a late result, a replay) never replaces the answer given.
   * `dropMessage` deletes the message bytes in the same round trip (every scanner has answered); `unstored` are
   * results no worker stored (checks run in the ingress), kept next to the others. With a feed or a queue-id index,
   * their commands go out with it, back to back on the connection: still one round trip on a single server (they
   * are separate commands because their keys lie outside the session's Cluster slot).
   */
  async finalize(
    sessionId: string,
    record: VerdictRecord,
    options: {
      dropMessage?: boolean;
      unstored?: readonly ScanResult[];
      context?: Pick<StageRequest, 'protocol' | 'queueId'>;
    } = {},
  ): Promise<boolean> {
    const { context } = options;
    // The results live in their own fields (res:<scanner>): the record keeps only their names.
    const { results, ...rest } = record;
    const stored = this.#redis.hgFinalize(
      this.keys.request(sessionId, record.reqId),
      this.keys.message(sessionId, record.reqId),
      pack({ ...rest, results: [], decidedWith: results.map((r) => r.scanner) } satisfies StoredRecord),
      options.dropMessage ? '1' : '0',
      ...(options.unstored ?? []).flatMap((r) => [FIELD.RESULT + r.scanner, pack(r)]),
    );
    const extra: Promise<unknown>[] = [];
    if (this.#feedEntries > 0) {
      extra.push(
        this.#redis.xadd(
          this.keys.feed(),
          'MAXLEN',
          '~',
          this.#feedEntries,
          '*',
          'e',
          JSON.stringify(feedSummary(record, context)),
        ),
      );
    }
    const queueId = context?.queueId;
    if (this.#indexQueueIds && queueId && queueId.length <= 128 && record.txnId) {
      extra.push(this.#redis.set(this.keys.queueId(queueId), record.txnId, 'PX', this.ttlMs));
    }
    const [ok] = await Promise.all([stored, ...extra]);
    return Number(ok) === 1;
  }

  /** The newest feed entries (newest first), or those after `after` (oldest first), at most `count`. */
  async recentVerdicts(options: { after?: string; count?: number } = {}): Promise<FeedEntry[]> {
    const count = Math.max(1, Math.min(1000, options.count ?? 100));
    const raw = options.after
      ? await this.#redis.xrange(this.keys.feed(), `(${options.after}`, '+', 'COUNT', count)
      : await this.#redis.xrevrange(this.keys.feed(), '+', '-', 'COUNT', count);
    return raw.flatMap(([id, fields]) => {
      const i = fields.indexOf('e');
      if (i < 0 || !fields[i + 1]) return [];
      try {
        return [{ id, ...(JSON.parse(fields[i + 1]!) as Omit<FeedEntry, 'id'>) }];
      } catch {
        return [];
      }
    });
  }

  /** The transaction an MTA queue id was last seen in (while its state lives), if indexed. */
  async transactionOfQueueId(queueId: string): Promise<string | undefined> {
    return (await this.#redis.get(this.keys.queueId(queueId))) ?? undefined;
  }

  /**
   * The verdict record of a stage request with every result stored for it: those the answer was decided with, and
   * any that came later (`at` after `answeredAt`), which never changed it.
   */
  async verdict(sessionId: string, reqId: string): Promise<VerdictRecord | undefined> {
    const all = await this.#redis.hgetallBuffer(this.keys.request(sessionId, reqId));
    const b = all[FIELD.VERDICT];
    if (!b) return undefined;
    const { decidedWith, ...record } = unpack<StoredRecord>(b, 'verdict record', isRecord);
    const results = Object.entries(all).flatMap(([field, v]) =>
      field.startsWith(FIELD.RESULT) ? [unpack<ScanResult>(v, 'scan result', isResult)] : [],
    );
    // Those the answer was decided with first, in the order they arrived, then late ones.
    const order = (r: ScanResult) => {
      const i = decidedWith?.indexOf(r.scanner) ?? -1;
      return i < 0 ? Number.MAX_SAFE_INTEGER : i;
    };
    return { ...record, results: results.sort((x, y) => order(x) - order(y) || x.at - y.at) };
  }

  /** The stage log of a session, oldest first. */
  async stageLog(sessionId: string): Promise<StageLogEntry[]> {
    const entries = await this.#redis.lrange(this.keys.log(sessionId), 0, -1);
    return entries.flatMap((e) => {
      const [txn, stage, reqId] = e.split('|');
      return txn !== undefined && stage && reqId ? [{ txn: Number(txn), stage, reqId }] : [];
    });
  }

  /** Decodes a notification received on a reply channel; undefined if it is not one of ours. */
  static decodeNotice(payload: Buffer): ResultNotice | undefined {
    try {
      return unpack<ResultNotice>(
        payload,
        'result notice',
        (x) => typeof x.reqId === 'string' && typeof x.result === 'object',
      );
    } catch {
      return undefined;
    }
  }
}
