import type { ItemMeta, ItemOutcome, ItemStatus, ItemSummary, ListFilter } from './types.js';

/** A listing row from an item's metadata. */
export function summarize(meta: ItemMeta, status: ItemStatus, outcome?: ItemOutcome): ItemSummary {
  return {
    id: meta.id,
    keptAt: meta.keptAt,
    expiresAt: meta.expiresAt,
    status,
    size: meta.size,
    protocol: meta.protocol,
    txnId: meta.txnId,
    ...(meta.queueId ? { queueId: meta.queueId } : {}),
    from: meta.from,
    to: meta.to,
    ...(meta.subject !== undefined ? { subject: meta.subject } : {}),
    reasons: meta.record.verdict.reasons,
    lossy: meta.lossy,
    ...(outcome ? { outcome } : {}),
  };
}

const has = (haystack: string, needle: string) => haystack.toLowerCase().includes(needle.toLowerCase());

/** Whether a row passes every filter given. `status` defaults to `held` (a release in progress counts as held). */
export function matches(row: ItemSummary, f: ListFilter): boolean {
  const status = f.status ?? 'held';
  if (status !== 'any' && row.status !== status && !(status === 'held' && row.status === 'releasing'))
    return false;
  if (f.since !== undefined && row.keptAt < f.since) return false;
  if (f.until !== undefined && row.keptAt > f.until) return false;
  if (f.sender !== undefined && !has(row.from, f.sender)) return false;
  if (f.recipient !== undefined && !row.to.some((t) => has(t, f.recipient!))) return false;
  if (f.reason !== undefined && !row.reasons.some((r) => has(r, f.reason!))) return false;
  return true;
}

export function pageLimit(limit: number | undefined): number {
  return Math.max(1, Math.min(500, Math.floor(limit ?? 50)));
}

/** Cursors are `<keptAt>.<id>`: listing continues below that time, after that id. */
export function cursorOf(last: { keptAt: number; id: string }): string {
  return `${last.keptAt}.${last.id}`;
}

export function parseCursor(cursor: string | undefined): { keptAt: number; id: string } | undefined {
  if (!cursor) return undefined;
  const m = /^(\d{1,15})\.([0-9a-z]{19})$/.exec(cursor);
  return m ? { keptAt: Number(m[1]), id: m[2]! } : undefined;
}
