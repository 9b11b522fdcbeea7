import type { RedisClient } from '@hookgate/redis';
import type { ScanResult, StageRequest, VerdictRecord } from '@hookgate/contracts';
import { StoreKeys } from './keys.js';
import { BEGIN_STAGE, RECORD_RESULT } from './scripts.js';
import { pack, unpack } from './codec.js';

export interface StoreOptions {
  /** Key prefix; default `hg`. */
  prefix?: string;
  /** TTL of every transaction key, ms. Longer than the longest stage chain. Default 10 minutes. */
  ttlMs?: number;
  /** Stage requests kept per session in the log. Default 200. */
  maxLogEntries?: number;
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

type ScriptClient = RedisClient & {
  hgBeginStage(k1: string, k2: string, k3: string, ...argv: (string | Buffer | number)[]): Promise<number>;
  hgRecordResult(k1: string, ...argv: (string | Buffer | number)[]): Promise<number>;
};

const isResult = (x: Record<string, unknown>) => typeof x.scanner === 'string' && typeof x.outcome === 'object';
const isRequest = (x: Record<string, unknown>) => typeof x.stage === 'string' && typeof x.sessionId === 'string';
const isRecord = (x: Record<string, unknown>) => typeof x.reqId === 'string' && typeof x.verdict === 'object';

/**
 * Transaction state and claim-checked message bytes in Redis. The request path makes one call per operation:
 * `beginStage` (state + bytes), `results` (only at the deadline), `finalize` (the verdict record).
 */
export class TransactionStore {
  readonly keys: StoreKeys;
  readonly ttlMs: number;
  readonly #maxLog: number;
  readonly #redis: ScriptClient;

  constructor(redis: RedisClient, options: StoreOptions = {}) {
    this.keys = new StoreKeys(options.prefix ?? 'hg');
    this.ttlMs = options.ttlMs ?? 600_000;
    this.#maxLog = options.maxLogEntries ?? 200;
    if (!('hgBeginStage' in redis)) {
      redis.defineCommand('hgBeginStage', { numberOfKeys: 3, lua: BEGIN_STAGE });
      redis.defineCommand('hgRecordResult', { numberOfKeys: 1, lua: RECORD_RESULT });
    }
    this.#redis = redis as ScriptClient;
  }

  /**
   * Records a stage request of a session (and the message bytes, once) and returns its transaction number.
   * `request.txnId` is ignored: the transaction is the session's, decided atomically here.
   */
  async beginStage(request: StageRequest, message?: Uint8Array): Promise<number> {
    const { sessionId: sid, reqId } = request;
    const n = await this.#redis.hgBeginStage(
      this.keys.session(sid),
      this.keys.log(sid),
      this.keys.request(sid, reqId),
      request.stage,
      this.ttlMs,
      reqId,
      pack({ ...request, txnId: '' }),
      message && message.byteLength > 0 ? Buffer.from(message.buffer, message.byteOffset, message.byteLength) : '',
      this.#maxLog,
    );
    return Number(n);
  }

  /** Reads a stage request and its message bytes (workers). */
  async loadRequest(sessionId: string, reqId: string): Promise<StoredRequest | undefined> {
    const [req, txn, msg] = await this.#redis.hmgetBuffer(this.keys.request(sessionId, reqId), 'req', 'txn', 'msg');
    if (!req) return undefined;
    const request = unpack<StageRequest>(req, 'stage request', isRequest);
    request.txnId = `${sessionId}.${txn ? txn.toString() : '0'}`;
    return msg ? { request, message: new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength) } : { request };
  }

  /** Stores a result once per scanner and notifies `replyTo`'s channel. False if one was already stored. */
  async recordResult(sessionId: string, reqId: string, result: ScanResult, replyTo?: string): Promise<boolean> {
    const notice: ResultNotice = { v: 1, sessionId, reqId, result };
    const stored = await this.#redis.hgRecordResult(
      this.keys.results(sessionId, reqId),
      result.scanner,
      pack(result),
      this.ttlMs,
      replyTo ? this.keys.replyChannel(replyTo) : '',
      replyTo ? pack(notice) : '',
    );
    return Number(stored) === 1;
  }

  async results(sessionId: string, reqId: string): Promise<ScanResult[]> {
    const all = await this.#redis.hgetallBuffer(this.keys.results(sessionId, reqId));
    return Object.values(all).map((b) => unpack<ScanResult>(b, 'scan result', isResult));
  }

  /** Stores the verdict record once: a later call (a late result, a replay) never replaces the answer given. */
  async finalize(sessionId: string, record: VerdictRecord): Promise<boolean> {
    const ok = await this.#redis.set(this.keys.verdict(sessionId, record.reqId), pack(record), 'PX', this.ttlMs, 'NX');
    return ok === 'OK';
  }

  async verdict(sessionId: string, reqId: string): Promise<VerdictRecord | undefined> {
    const b = await this.#redis.getBuffer(this.keys.verdict(sessionId, reqId));
    return b ? unpack<VerdictRecord>(b, 'verdict record', isRecord) : undefined;
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
      return unpack<ResultNotice>(payload, 'result notice', (x) => typeof x.reqId === 'string' && typeof x.result === 'object');
    } catch {
      return undefined;
    }
  }
}
