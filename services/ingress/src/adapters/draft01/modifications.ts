/**
 * A verdict's message and envelope modifications as draft-01 operations, with the draft's index rules, or as a
 * rewritten `rawMessage` when the body changes.
 */
import type { Modification } from '@hookgate/contracts';
import { nth, parseHeaderSection } from './headers.js';
import type { OpsBuilder } from './operations.js';
import type { RequestView } from './request.js';

type HeaderModification = Extract<
  Modification,
  { type: 'addHeader' | 'insertHeader' | 'changeHeader' | 'deleteHeader' }
>;
type EnvelopeModification = Extract<
  Modification,
  { type: 'changeFrom' | 'addRecipient' | 'deleteRecipient' }
>;

const HEADER_TYPES: ReadonlySet<Modification['type']> = new Set([
  'addHeader',
  'insertHeader',
  'changeHeader',
  'deleteHeader',
]);
const ENVELOPE_TYPES: ReadonlySet<Modification['type']> = new Set([
  'changeFrom',
  'addRecipient',
  'deleteRecipient',
]);

export const isHeaderModification = (m: Modification): m is HeaderModification => HEADER_TYPES.has(m.type);
export const isEnvelopeModification = (m: Modification): m is EnvelopeModification =>
  ENVELOPE_TYPES.has(m.type);

/** Header values go into the message: no CR, LF or NUL (the rspamd bridge refuses them). */
function headerValue(value: string): string {
  return value.replace(/[\r\n\0]+/g, ' ').trim();
}

/**
 * Header modifications as operations on `/message/headers`, with the draft's index rules: `set` runs first on the
 * original list, then every `add` (each index against the list as it is then), then `delete` (highest index first,
 * against the list after the adds). `addHeader` prepends (in order), as trace headers are, and as the legacy
 * Stalwart path does; `insertHeader` index n (1-based, milter style) puts the header before the n-th original
 * header; `changeHeader` of an absent occurrence adds the header (milter semantics).
 */
export function headerOps(
  mods: readonly Modification[],
  names: readonly string[] | undefined,
  b: OpsBuilder,
  dropped: string[],
): void {
  // Simulated list: original index, or -1 for an added header.
  const sim: number[] = (names ?? []).map((_, i) => i);
  let prepended = 0;
  const add = (index: number, name: string, value: string) => {
    b.add.push({ path: '/message/headers', value: { name, value: headerValue(value) }, index });
    sim.splice(index, 0, -1);
  };
  const deletes: number[] = [];
  for (const m of mods.filter(isHeaderModification)) {
    switch (m.type) {
      case 'addHeader':
        add(prepended++, m.name, m.value);
        break;
      case 'insertHeader': {
        if (!names) {
          add(prepended++, m.name, m.value);
          break;
        }
        const before = Math.max(0, m.index - 1);
        const at = before >= names.length ? sim.length : sim.indexOf(before);
        add(at < 0 ? sim.length : at, m.name, m.value);
        break;
      }
      case 'changeHeader': {
        const i = names ? nth(names, m.name, m.index) : -1;
        if (i >= 0) b.set.push({ path: `/message/headers/${i}/value`, value: headerValue(m.value) });
        else if (names) add(prepended++, m.name, m.value);
        else dropped.push(`changeHeader ${m.name}: header list unknown`);
        break;
      }
      case 'deleteHeader': {
        const i = names ? nth(names, m.name, m.index) : -1;
        if (i >= 0) deletes.push(i);
        else if (!names) dropped.push(`deleteHeader ${m.name}: header list unknown`);
        break;
      }
    }
  }
  const positions = [...new Set(deletes)]
    .map((orig) => sim.indexOf(orig))
    .filter((p) => p >= 0)
    .sort((x, y) => y - x);
  for (const p of positions) b.delete.push({ path: `/message/headers/${p}` });
}

/** Rebuilds the raw message with the header modifications applied and a new body (for `replaceBody`). */
export function rebuildRaw(raw: Buffer, mods: readonly Modification[], body: string): Buffer {
  const { headers } = parseHeaderSection(raw);
  const names = headers.map((h) => h.name);
  const lines: (string | null)[] = headers.map((h) =>
    h.raw.replace(/\r?\n$/, '\r\n').replace(/([^\r])\n/g, '$1\r\n'),
  );
  const field = (name: string, value: string) =>
    Buffer.from(`${name}: ${headerValue(value)}\r\n`, 'utf8').toString('latin1');
  const top: string[] = [];
  const inserted = new Map<number, string[]>();
  for (const m of mods.filter(isHeaderModification)) {
    switch (m.type) {
      case 'addHeader':
        top.push(field(m.name, m.value));
        break;
      case 'insertHeader': {
        const at = Math.max(0, m.index - 1);
        inserted.set(at, [...(inserted.get(at) ?? []), field(m.name, m.value)]);
        break;
      }
      case 'changeHeader': {
        const i = nth(names, m.name, m.index);
        if (i >= 0) lines[i] = field(headers[i]!.name, m.value);
        else top.push(field(m.name, m.value));
        break;
      }
      case 'deleteHeader': {
        const i = nth(names, m.name, m.index);
        if (i >= 0) lines[i] = null;
        break;
      }
    }
  }
  const out: string[] = [...top];
  lines.forEach((l, i) => {
    out.push(...(inserted.get(i) ?? []));
    if (l !== null) out.push(l);
  });
  for (const [at, list] of inserted) if (at >= lines.length) out.push(...list);
  return Buffer.concat([Buffer.from(out.join(''), 'latin1'), Buffer.from('\r\n'), Buffer.from(body, 'utf8')]);
}

/** Envelope modifications as operations on `/envelope/from` and `/envelope/to`. */
export function envelopeOps(
  mods: readonly Modification[],
  view: RequestView,
  b: OpsBuilder,
  dropped: string[],
): void {
  const deletes: number[] = [];
  for (const m of mods.filter(isEnvelopeModification)) {
    switch (m.type) {
      case 'changeFrom':
        b.set.push({
          path: '/envelope/from',
          value: { address: m.address === '' ? null : m.address, parameters: m.parameters ?? {} },
        });
        break;
      case 'addRecipient':
        b.add.push({ path: '/envelope/to', value: { address: m.address, parameters: m.parameters ?? {} } });
        break;
      case 'deleteRecipient': {
        const i = view.recipients.findIndex((r) => r.address.toLowerCase() === m.address.toLowerCase());
        if (i >= 0) deletes.push(i);
        else dropped.push(`deleteRecipient: not a recipient of this request`);
        break;
      }
    }
  }
  // Added recipients are appended, so original indices still hold when the deletes run.
  for (const i of [...new Set(deletes)].sort((x, y) => y - x)) b.delete.push({ path: `/envelope/to/${i}` });
}
