import type { Modification } from '@hookgate/contracts';
import type { HeaderIndex } from './message.js';

/** RFC 5322 field name: printable ASCII without colon. */
export const HEADER_NAME = /^[!-9;-~]{1,100}$/;

/**
 * Deletes every occurrence of `name`, last first: an index then means the same header whether or not the MTA
 * renumbers after each deletion. Unknown headers: the first occurrence only.
 */
export function deleteAll(name: string, headers: HeaderIndex): Modification[] {
  if (!headers.known) return [{ type: 'deleteHeader', index: 1, name }];
  const out: Modification[] = [];
  for (let i = headers.count(name); i >= 1; i--) out.push({ type: 'deleteHeader', index: i, name });
  return out;
}

/** Sets a header: existing occurrences (possibly forged upstream) go, one new one is added. */
export function replaceHeader(name: string, value: string, headers: HeaderIndex): Modification[] {
  const deletes = headers.known ? deleteAll(name, headers) : [];
  return [...deletes, { type: 'addHeader', name, value }];
}

/** Drops exact repeats (two sources deleting the same header), keeping the first position. */
export function dedupe(mods: Modification[]): Modification[] {
  const seen = new Set<string>();
  return mods.filter((m) => {
    const key = JSON.stringify(m);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
