import {
  ERR,
  HookgateError,
  errorMessage,
  type Protocol,
  type SmtpReply,
  type StageRequest,
  type VerdictRecord,
} from '@hookgate/contracts';
import { headerSection, parseHeaders } from './head.js';
import { idTime, isId, newId } from './ids.js';
import type { Relay } from './relay.js';
import type {
  AuditEntry,
  ItemMeta,
  ItemOutcome,
  ItemStatus,
  ListFilter,
  ListPage,
  QuarantineStore,
  Usage,
} from './types.js';

export interface QuarantineOptions {
  store: QuarantineStore;
  /** How long an item is kept (its tombstone too, after a release or deletion), ms. */
  retentionMs: number;
  /** Where released mail goes; without it, release answers HOOKGATE_ERR_RELAY_UNCONFIGURED. */
  relay?: Relay;
  /** A release still `releasing` after this long was abandoned (its process died) and may be retried, ms. */
  claimStaleMs?: number;
  now?: () => number;
}

/** An item as the admin API shows it: headers and verdict, the message only when asked for. */
export interface ItemView extends Omit<ItemMeta, 'v' | 'sessionId'> {
  status: ItemStatus;
  headers: { name: string; value: string }[];
  outcome?: ItemOutcome;
  audit: AuditEntry[];
  /** The kept message, base64 (only when asked for, and only while it is held). */
  message?: { base64: string };
}

export interface ReleaseResult {
  id: string;
  status: 'released';
  relay: string;
  reply: string;
  accepted: string[];
  refused: string[];
}

const WHO_SYSTEM = 'hookgate';

/**
 * The quarantine as operators and the pipeline use it: keep (pipeline), list, show, release, delete (admin API),
 * with every action in the audit trail. Errors carry codes the admin API maps to statuses: bad id 400
 * (REQUEST_INVALID), unknown 404 (NOT_FOUND), expired or deleted 410 (QUARANTINE_GONE), released or being released
 * 409 (QUARANTINE_CONFLICT), relay failure 502 (RELAY_FAILED; the item stays held).
 */
export class Quarantine {
  readonly store: QuarantineStore;
  readonly retentionMs: number;
  readonly #relay: Relay | undefined;
  readonly #staleMs: number;
  readonly #now: () => number;

  constructor(o: QuarantineOptions) {
    this.store = o.store;
    this.retentionMs = o.retentionMs;
    this.#relay = o.relay;
    this.#staleMs = o.claimStaleMs ?? 300_000;
    this.#now = o.now ?? Date.now;
  }

  get relayTarget(): string | undefined {
    return this.#relay?.target;
  }

  /** Keeps a message with the verdict record that quarantined it; resolves with its id. */
  async keep(request: StageRequest, message: Uint8Array, record: VerdictRecord): Promise<string> {
    const keptAt = this.#now();
    const id = newId(keptAt);
    const meta: ItemMeta = {
      v: 1,
      id,
      keptAt,
      expiresAt: keptAt + this.retentionMs,
      size: message.byteLength,
      protocol: request.protocol,
      sessionId: request.sessionId,
      txnId: request.txnId,
      reqId: request.reqId,
      ...(request.queueId ? { queueId: request.queueId } : {}),
      from: request.from?.address ?? '',
      to: (request.to ?? []).map((a) => a.address),
      client: { ip: request.client.ip, ...(request.client.helo ? { helo: request.client.helo } : {}) },
      ...(request.message?.subject !== undefined ? { subject: request.message.subject } : {}),
      lossy: request.message?.lossy ?? false,
      record,
    };
    const audit: AuditEntry = {
      at: keptAt,
      who: WHO_SYSTEM,
      what: 'keep',
      id,
      detail: record.verdict.reasons.join(',').slice(0, 500),
    };
    try {
      await this.store.keep(meta, message, headerSection(message), audit);
    } catch (err) {
      if (err instanceof HookgateError) throw err;
      throw new HookgateError(ERR.QUARANTINE_UNAVAILABLE, `quarantine store failed: ${errorMessage(err)}`, {
        cause: err,
        retryable: true,
      });
    }
    return id;
  }

  /** Removes an item nobody was told about (kept after the answer was already given as tempfail). */
  async forget(id: string, why: string): Promise<void> {
    const now = this.#now();
    await this.store.remove(
      id,
      { what: 'deleted', by: WHO_SYSTEM, at: now },
      { at: now, who: WHO_SYSTEM, what: 'delete', id, detail: why },
      now,
      this.#staleMs,
    );
  }

  async list(filter: ListFilter): Promise<ListPage> {
    return this.store.list(filter, this.#now());
  }

  async show(id: string, who: string, body: boolean): Promise<ItemView> {
    this.#checkId(id);
    const item = await this.store.get(id, body);
    if (!item) throw this.#missing(id);
    const m = item.meta;
    if (body && item.message) await this.store.record({ at: this.#now(), who, what: 'view-body', id });
    return {
      id,
      status: item.status,
      keptAt: m.keptAt,
      expiresAt: m.expiresAt,
      size: m.size,
      protocol: m.protocol,
      txnId: m.txnId,
      reqId: m.reqId,
      ...(m.queueId ? { queueId: m.queueId } : {}),
      from: m.from,
      to: m.to,
      client: m.client,
      ...(m.subject !== undefined ? { subject: m.subject } : {}),
      lossy: m.lossy,
      headers: parseHeaders(item.head),
      record: m.record,
      ...(item.outcome ? { outcome: item.outcome } : {}),
      audit: item.audit,
      ...(body && item.message ? { message: { base64: Buffer.from(item.message).toString('base64') } } : {}),
    };
  }

  /**
   * Delivers the kept bytes to the relay with the original envelope, once: the item is claimed first, so a second
   * release (here or on another replica) gets 409 while the first runs and after it succeeded. A relay failure
   * gives the item back (still held) and is audited.
   */
  async release(id: string, who: string): Promise<ReleaseResult> {
    this.#checkId(id);
    const relay = this.#relay;
    if (!relay)
      throw new HookgateError(
        ERR.RELAY_UNCONFIGURED,
        'no release relay configured: set HOOKGATE_QUARANTINE_RELAY (or quarantine.relay)',
      );
    const now = this.#now();
    const claim = await this.store.claim(id, now, this.#staleMs);
    if (!claim.ok) {
      if (claim.why === 'not-found') throw this.#missing(id);
      const item = claim.why === 'busy' ? undefined : await this.store.get(id, false);
      const o = item?.outcome;
      if (claim.why === 'deleted')
        throw new HookgateError(
          ERR.QUARANTINE_GONE,
          `quarantined item ${id} was deleted${o ? ` by ${o.by} at ${iso(o.at)}` : ''}`,
        );
      if (claim.why === 'released')
        throw new HookgateError(
          ERR.QUARANTINE_CONFLICT,
          `quarantined item ${id} was already released${o ? ` by ${o.by} at ${iso(o.at)}` : ''}`,
        );
      throw new HookgateError(ERR.QUARANTINE_CONFLICT, `a release of ${id} is in progress`);
    }
    const { meta, message } = claim;
    if (meta.to.length === 0) {
      await this.store.settle(
        id,
        { released: false },
        { at: this.#now(), who, what: 'release-failed', id, detail: 'no recipients' },
      );
      throw new HookgateError(ERR.REQUEST_INVALID, `quarantined item ${id} has no recipients to release to`);
    }
    let delivery;
    try {
      delivery = await relay.deliver({ from: meta.from, to: meta.to }, message);
    } catch (err) {
      const detail = errorMessage(err);
      await this.store.settle(
        id,
        { released: false },
        { at: this.#now(), who, what: 'release-failed', id, detail: detail.slice(0, 500) },
      );
      throw err instanceof HookgateError ? err : new HookgateError(ERR.RELAY_FAILED, detail, { cause: err });
    }
    const at = this.#now();
    const outcome: ItemOutcome = {
      what: 'released',
      by: who,
      at,
      reply: delivery.reply,
      ...(delivery.refused.length ? { refused: delivery.refused } : {}),
    };
    const detail = `${relay.target}: ${delivery.reply}${delivery.refused.length ? `; refused ${delivery.refused.join(',')}` : ''}`;
    await this.store.settle(
      id,
      { released: true, outcome },
      { at, who, what: 'release', id, detail: detail.slice(0, 500) },
    );
    return {
      id,
      status: 'released',
      relay: relay.target,
      reply: delivery.reply,
      accepted: delivery.accepted,
      refused: delivery.refused,
    };
  }

  /** Drops the message and keeps a tombstone (who, when) until the item expires. */
  async delete(id: string, who: string): Promise<{ id: string; status: 'deleted' }> {
    this.#checkId(id);
    const now = this.#now();
    const r = await this.store.remove(
      id,
      { what: 'deleted', by: who, at: now },
      { at: now, who, what: 'delete', id },
      now,
      this.#staleMs,
    );
    switch (r) {
      case 'deleted':
        return { id, status: 'deleted' };
      case 'not-found':
        throw this.#missing(id);
      case 'already-deleted':
        throw new HookgateError(ERR.QUARANTINE_GONE, `quarantined item ${id} was already deleted`);
      case 'busy':
        throw new HookgateError(ERR.QUARANTINE_CONFLICT, `a release of ${id} is in progress`);
    }
  }

  async audit(limit = 100): Promise<AuditEntry[]> {
    return this.store.auditTrail(Math.max(1, Math.min(1000, limit)));
  }

  async usage(): Promise<Usage> {
    return this.store.usage(this.#now());
  }

  #checkId(id: string): void {
    if (!isId(id))
      throw new HookgateError(
        ERR.REQUEST_INVALID,
        'quarantine id must be 19 lower-case letters and digits, as given in the reply (e.g. mj4x2c1k0qh3vw7zbn2)',
      );
  }

  /** Gone with its time known: expired (410), or never kept here (404). */
  #missing(id: string): HookgateError {
    const keptAt = idTime(id);
    if (keptAt + this.retentionMs <= this.#now())
      return new HookgateError(
        ERR.QUARANTINE_GONE,
        `quarantined item ${id} expired (kept ${iso(keptAt)}; retention ${Math.round(this.retentionMs / 3_600_000)} h)`,
      );
    return new HookgateError(ERR.NOT_FOUND, `no quarantined item ${id}`);
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The pipeline's view of the quarantine (libs/pipeline QuarantineKeeper), with the answer chosen per protocol. */
export interface KeeperOptions {
  /** Protocols whose quarantine verdicts are kept here, and how each MTA is answered; absent = the MTA holds it. */
  answers: Partial<Record<Protocol, 'reject' | 'discard'>>;
  /** The reply of a reject; `{id}` becomes the quarantine id. */
  reply: SmtpReply;
}

export function quarantineKeeper(q: Quarantine, o: KeeperOptions) {
  return {
    answerFor: (protocol: Protocol) => o.answers[protocol],
    keep: (request: StageRequest, message: Uint8Array, record: VerdictRecord) =>
      q.keep(request, message, record),
    forget: (id: string) =>
      q.forget(id, 'kept after the answer was given (tempfail): the MTA keeps the message'),
    reply: (id: string): SmtpReply => ({ ...o.reply, text: o.reply.text.replaceAll('{id}', id) }),
  };
}
