/**
 * rspamd's `milter` block (what its own milter proxy would do: rspamd/src/libserver/milter.c) as hookgate
 * modifications. The reply is engine output: anything malformed is skipped, never passed on raw.
 */
import type { Modification } from '@hookgate/contracts';
import type { HeaderIndex } from '../message.js';
import { oneLine } from '../message.js';
import { deleteAll, HEADER_NAME } from '../modifications.js';
import type { RspamdMilter, RspamdMilterHeader } from './client.js';

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

/** `remove_headers: {name: n}`: n ≥ 1 the n-th occurrence, 0 all of them, negative counted from the end. */
function removals(spec: RspamdMilter['remove_headers'], headers: HeaderIndex): Modification[] {
  const out: Modification[] = [];
  for (const [name, n] of Object.entries(spec ?? {})) {
    if (!HEADER_NAME.test(name) || !isInt(n)) continue;
    const count = headers.count(name);
    if (n === 0) out.push(...deleteAll(name, headers));
    else if (n > 0 && (!headers.known || n <= count)) out.push({ type: 'deleteHeader', index: n, name });
    else if (n < 0 && headers.known && -n <= count)
      out.push({ type: 'deleteHeader', index: count + n + 1, name });
  }
  return out;
}

/** Where an `order` puts a header: null appends. Negative counts from the end: -1 is after the last header. */
function position(order: number, headers: HeaderIndex): number | null {
  if (order > 0) return order;
  if (order === 0 || !headers.known) return null;
  const at = headers.total + order + 1;
  return at >= headers.total ? null : Math.max(0, at);
}

/**
 * `add_headers: {name: value | {value, order} | [...]}`. Order 0 or none appends; order N > 0 inserts at
 * position N; a negative order counts from the end of the header section, as rspamd's proxy does.
 */
function additions(spec: RspamdMilter['add_headers'], headers: HeaderIndex): Modification[] {
  const out: Modification[] = [];
  for (const [name, raw] of Object.entries(spec ?? {})) {
    if (!HEADER_NAME.test(name)) continue;
    for (const item of (Array.isArray(raw) ? raw : [raw]) as unknown[]) {
      const h = item as RspamdMilterHeader;
      if (typeof h === 'string') {
        out.push({ type: 'addHeader', name, value: oneLine(h) });
        continue;
      }
      if (typeof h !== 'object' || h === null || typeof h.value !== 'string') continue;
      const value = oneLine(h.value);
      const at = position(isInt(h.order) ? h.order : isInt(h.index) ? h.index : 0, headers);
      out.push(
        at === null ? { type: 'addHeader', name, value } : { type: 'insertHeader', index: at, name, value },
      );
    }
  }
  return out;
}

/** `<addr> KEY=VALUE ...` as the contract's address and parameters. */
function envelopeAddress(value: string): { address: string; parameters?: Record<string, string> } | null {
  const m = /^\s*<?([^<>\s]*)>?\s*(.*)$/.exec(oneLine(value, 1000));
  if (!m) return null;
  const params = (m[2] ?? '').split(/\s+/).filter(Boolean);
  const parameters = Object.fromEntries(
    params.map((p) => {
      const eq = p.indexOf('=');
      return eq > 0 ? [p.slice(0, eq).toUpperCase(), p.slice(eq + 1)] : [p.toUpperCase(), ''];
    }),
  );
  return { address: m[1] ?? '', ...(params.length ? { parameters } : {}) };
}

function addresses(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list
    .filter((a): a is string => typeof a === 'string')
    .map((a) => envelopeAddress(a)?.address ?? '')
    .filter((a) => a !== '');
}

/**
 * Modifications for rspamd's milter block and DKIM signature(s), in the order rspamd's proxy applies them:
 * removals, additions, envelope changes, then `DKIM-Signature` inserted at the top (positions 1, 2, ...).
 */
export function milterModifications(
  milter: RspamdMilter | undefined,
  dkim: string | string[] | undefined,
  headers: HeaderIndex,
): Modification[] {
  const out: Modification[] = [];
  if (milter && typeof milter === 'object') {
    out.push(...removals(milter.remove_headers, headers), ...additions(milter.add_headers, headers));
    if (typeof milter.change_from === 'string') {
      const from = envelopeAddress(milter.change_from);
      if (from) out.push({ type: 'changeFrom', ...from });
    }
    for (const address of addresses(milter.add_rcpt)) out.push({ type: 'addRecipient', address });
    for (const address of addresses(milter.del_rcpt)) out.push({ type: 'deleteRecipient', address });
  }
  const signatures =
    typeof dkim === 'string' ? [dkim] : Array.isArray(dkim) ? dkim.filter((s) => typeof s === 'string') : [];
  signatures.forEach((sig, i) =>
    out.push({ type: 'insertHeader', index: i + 1, name: 'DKIM-Signature', value: oneLine(sig, 8000) }),
  );
  return out;
}
