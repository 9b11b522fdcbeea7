/**
 * Registration filters (draft-01 §"Filtering", JMAP-style conditions of RFC 8621 §4.4.1). The MTA applies a
 * filter; hookgate only has to understand it.
 */
import { DRAFT01_ERRORS } from '@hookgate/contracts';
import { problem, type Problem } from './problems.js';

/** Conditions of RFC 8621 §4.4.1 that draft-01 excludes. */
const EXCLUDED_CONDITIONS = new Set([
  'inMailbox',
  'inMailboxOtherThan',
  'before',
  'after',
  'allInThreadHaveKeyword',
  'someInThreadHaveKeyword',
  'noneInThreadHaveKeyword',
  'hasKeyword',
  'notKeyword',
]);
/** The conditions hookgate understands, with the JSON type of each value. */
const CONDITIONS: Record<string, 'string' | 'uint' | 'boolean' | 'header'> = {
  from: 'string',
  to: 'string',
  cc: 'string',
  bcc: 'string',
  subject: 'string',
  body: 'string',
  text: 'string',
  header: 'header',
  minSize: 'uint',
  maxSize: 'uint',
  hasAttachment: 'boolean',
  envelopeFrom: 'string',
  envelopeTo: 'string',
};

const { FILTER_INVALID, UNSUPPORTED_FILTER } = DRAFT01_ERRORS;

/**
 * Checks a registration filter: an unknown or excluded condition is 422 UNSUPPORTED_FILTER, bad syntax 400
 * FILTER_INVALID.
 */
export function checkFilter(filter: unknown, depth = 0): Problem | null {
  if (filter === null || filter === undefined) return null;
  if (depth > 16) return problem(FILTER_INVALID, 'filter nested too deeply');
  if (typeof filter !== 'object' || Array.isArray(filter))
    return problem(FILTER_INVALID, 'filter must be an object');
  const f = filter as Record<string, unknown>;
  if ('operator' in f) {
    if (!['AND', 'OR', 'NOT'].includes(f.operator as string))
      return problem(FILTER_INVALID, 'filter operator must be AND, OR or NOT');
    if (!Array.isArray(f.conditions) || f.conditions.length === 0)
      return problem(FILTER_INVALID, 'filter operator needs a non-empty conditions array');
    const extra = Object.keys(f).find((k) => k !== 'operator' && k !== 'conditions');
    if (extra) return problem(FILTER_INVALID, `unexpected key "${extra.slice(0, 32)}" in a filter operator`);
    for (const c of f.conditions as unknown[]) {
      const p = checkFilter(c, depth + 1);
      if (p) return p;
    }
    return null;
  }
  for (const [k, v] of Object.entries(f)) {
    if (EXCLUDED_CONDITIONS.has(k))
      return problem(UNSUPPORTED_FILTER, `filter condition "${k}" is excluded by draft-01`);
    const type = CONDITIONS[k];
    if (!type) return problem(UNSUPPORTED_FILTER, `filter condition "${k.slice(0, 32)}" is not supported`);
    const ok =
      type === 'string'
        ? typeof v === 'string'
        : type === 'uint'
          ? Number.isSafeInteger(v) && (v as number) >= 0
          : type === 'boolean'
            ? typeof v === 'boolean'
            : Array.isArray(v) && v.length >= 1 && v.length <= 2 && v.every((x) => typeof x === 'string');
    if (!ok) return problem(FILTER_INVALID, `filter condition "${k}" has a value of the wrong type`);
  }
  return null;
}
