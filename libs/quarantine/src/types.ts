import type { Protocol, VerdictRecord } from '@hookgate/contracts';

/** Where an item stands. A released or deleted item keeps its metadata (a tombstone) until it expires. */
export type ItemStatus = 'held' | 'releasing' | 'released' | 'deleted';

/**
 * What is kept with a message: who sent it to whom, how it was answered and why. Never matched content; the
 * subject is kept because operators identify mail by it (it is shown to admins only, like the headers).
 */
export interface ItemMeta {
  v: 1;
  id: string;
  /** Epoch ms when the message was kept, and when the item (tombstone included) expires. */
  keptAt: number;
  expiresAt: number;
  /** Byte length of the kept message. */
  size: number;
  protocol: Protocol;
  sessionId: string;
  txnId: string;
  reqId: string;
  queueId?: string;
  /** Envelope sender (`''` is the null sender) and recipients: what a release delivers to. */
  from: string;
  to: string[];
  client: { ip: string; helo?: string };
  subject?: string;
  /** The kept bytes are a reconstruction that lost data (the legacy Stalwart format sends no raw message). */
  lossy: boolean;
  /** The verdict record of the stage that quarantined the message (reasons, scanners, durations). */
  record: VerdictRecord;
}

/** What happened to an item last: its release or deletion. */
export interface ItemOutcome {
  what: 'released' | 'deleted';
  by: string;
  at: number;
  /** The relay's final reply, for a release. */
  reply?: string;
  /** Recipients the relay refused (a release to the others still counts as done). */
  refused?: string[];
}

/** An item as stored: metadata, status and, when asked for, the message. */
export interface StoredItem {
  meta: ItemMeta;
  status: ItemStatus;
  outcome?: ItemOutcome;
  /** The header section of the message, as kept (bytes up to the first empty line). */
  head: Uint8Array;
  message?: Uint8Array;
  audit: AuditEntry[];
}

/** One line of the audit trail: every keep, view of a body, release (and its failure) and deletion. */
export interface AuditEntry {
  at: number;
  /** The admin identity (admin token name), or `hookgate` for keeping. */
  who: string;
  what: 'keep' | 'view-body' | 'release' | 'release-failed' | 'delete';
  id: string;
  /** Content-free detail: the relay's reply, the reasons of a keep. */
  detail?: string;
}

/** Filters for listing; all given ones must hold. Text filters are case-insensitive substrings. */
export interface ListFilter {
  recipient?: string;
  sender?: string;
  reason?: string;
  /** keptAt bounds, epoch ms (inclusive). */
  since?: number;
  until?: number;
  /** Default `held` (waiting for a decision); `any` lists tombstones too. */
  status?: ItemStatus | 'any';
  /** At most this many items (default 50, at most 500). */
  limit?: number;
  /** Continue after this cursor (from a previous page's `next`). */
  cursor?: string;
}

/** One row of a listing. */
export interface ItemSummary {
  id: string;
  keptAt: number;
  expiresAt: number;
  status: ItemStatus;
  size: number;
  protocol: Protocol;
  txnId: string;
  queueId?: string;
  from: string;
  to: string[];
  subject?: string;
  reasons: string[];
  lossy: boolean;
  outcome?: ItemOutcome;
}

export interface ListPage {
  items: ItemSummary[];
  /** Present when more items may match: pass it as `cursor`. */
  next?: string;
}

/** The result of claiming an item for release. */
export type ClaimResult =
  | { ok: true; meta: ItemMeta; message: Uint8Array }
  | { ok: false; why: 'not-found' | 'released' | 'deleted' | 'busy' };

/** The result of deleting an item. */
export type RemoveResult = 'deleted' | 'not-found' | 'already-deleted' | 'busy';

export interface Usage {
  /** Message bytes held (released and deleted items no longer count). */
  bytes: number;
  maxBytes: number;
  /** Items held. */
  held: number;
}

/**
 * Where quarantined mail is kept. Two implementations: Redis (default; works wherever hookgate runs) and a
 * directory (large volumes). Every method is one round trip to Redis or a handful of file operations.
 */
export interface QuarantineStore {
  readonly kind: 'redis' | 'filesystem';
  /** Stores the message and its metadata; throws HOOKGATE_ERR_QUARANTINE_FULL above the size cap. */
  keep(meta: ItemMeta, message: Uint8Array, head: Uint8Array, audit: AuditEntry): Promise<void>;
  list(filter: ListFilter, now: number): Promise<ListPage>;
  /** undefined when the item does not exist (never kept, or expired). */
  get(id: string, body: boolean): Promise<StoredItem | undefined>;
  /** Marks an item `releasing` (exclusive) and returns its message; a claim older than `staleMs` can be retaken. */
  claim(id: string, now: number, staleMs: number): Promise<ClaimResult>;
  /** Ends a claim: `released` drops the message and records the outcome; `held` gives the item back. */
  settle(
    id: string,
    result: { released: true; outcome: ItemOutcome } | { released: false },
    audit: AuditEntry,
  ): Promise<void>;
  /** Drops the message and leaves a tombstone. */
  remove(
    id: string,
    outcome: ItemOutcome,
    audit: AuditEntry,
    now: number,
    staleMs: number,
  ): Promise<RemoveResult>;
  /** Appends to the audit trail (views of a body). */
  record(audit: AuditEntry): Promise<void>;
  /** The most recent audit entries, newest first. */
  auditTrail(limit: number): Promise<AuditEntry[]>;
  usage(now: number): Promise<Usage>;
  close?(): Promise<void>;
}
