/**
 * Unknown keys and variables. A schema's objects are treated as closed, so a misspelt key is an error naming the
 * nearest known sibling instead of a default silently left in force. Records (`patternProperties`) and objects
 * with `additionalProperties: true` or a schema stay open on purpose.
 */
import type { TSchema } from '@sinclair/typebox';
import type { ConfigProblem } from './problem.js';

interface Shape {
  type?: unknown;
  properties?: Record<string, TSchema>;
  patternProperties?: Record<string, TSchema>;
  additionalProperties?: boolean | TSchema;
  items?: TSchema | TSchema[];
  anyOf?: TSchema[];
  oneOf?: TSchema[];
  allOf?: TSchema[];
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Every key of `value` that `schema` does not declare, with its dotted path (`scanners.clamv`) and the closest
 * known sibling. Values of the wrong type are left to the validator.
 */
export function unknownKeys(schema: TSchema, value: unknown): ConfigProblem[] {
  return walk(schema as Shape, value, []);
}

function walk(schema: Shape, value: unknown, path: string[]): ConfigProblem[] {
  const branches = schema.anyOf ?? schema.oneOf;
  if (branches) {
    // A union: judge the value by the branch that fits it best; none fitting is a type error, not ours.
    let best: ConfigProblem[] | undefined;
    for (const b of branches.filter((s) => fits(s as Shape, value))) {
      const found = walk(b as Shape, value, path);
      if (found.length === 0) return [];
      if (!best || found.length < best.length) best = found;
    }
    return best ?? [];
  }
  if (schema.allOf) return walk(merge(schema.allOf as Shape[]), value, path);
  if (Array.isArray(value)) {
    const items = schema.items;
    if (!items) return [];
    return value.flatMap((v, i) => {
      const item = Array.isArray(items) ? items[i] : items;
      return item ? walk(item as Shape, v, [...path, String(i)]) : [];
    });
  }
  if (!isRecord(value) || !isObjectShape(schema)) return [];
  const props = schema.properties ?? {};
  const problems: ConfigProblem[] = [];
  for (const [key, v] of Object.entries(value)) {
    const here = [...path, key];
    const sub = Object.hasOwn(props, key)
      ? props[key]
      : (patternSchema(schema.patternProperties, key) ??
        (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined));
    if (sub) problems.push(...walk(sub as Shape, v, here));
    else if (schema.additionalProperties !== true)
      problems.push({
        path: here.join('.'),
        reason: unknownReason(key, Object.keys(props), schema.patternProperties, path),
      });
  }
  return problems;
}

function isObjectShape(s: Shape): boolean {
  return s.type === 'object' || s.properties !== undefined || s.patternProperties !== undefined;
}

function fits(s: Shape, value: unknown): boolean {
  const branches = s.anyOf ?? s.oneOf;
  if (branches) return branches.some((b) => fits(b as Shape, value));
  if (s.allOf) return isRecord(value);
  if (Array.isArray(value)) return s.type === 'array';
  return isRecord(value) && isObjectShape(s);
}

/** An intersection's object members as one shape: a key known to any member is known. */
function merge(members: Shape[]): Shape {
  const objects = members.filter(isObjectShape);
  return {
    type: 'object',
    properties: Object.assign({}, ...objects.map((m) => m.properties ?? {})) as Record<string, TSchema>,
    patternProperties: Object.assign({}, ...objects.map((m) => m.patternProperties ?? {})) as Record<
      string,
      TSchema
    >,
    additionalProperties:
      objects.some((m) => m.additionalProperties !== undefined && m.additionalProperties !== false) ||
      undefined,
  };
}

function patternSchema(patterns: Record<string, TSchema> | undefined, key: string): TSchema | undefined {
  for (const [re, s] of Object.entries(patterns ?? {})) if (new RegExp(re).test(key)) return s;
  return undefined;
}

function unknownReason(
  key: string,
  known: string[],
  patterns: Record<string, TSchema> | undefined,
  parent: string[],
): string {
  const suggestion = closest(key, known);
  if (suggestion !== undefined) return `unknown key; did you mean ${[...parent, suggestion].join('.')}?`;
  if (known.length > 0) return `unknown key; known here: ${known.join(', ')}`;
  const names = Object.keys(patterns ?? {});
  if (names.length > 0) return `not an allowed name (must match ${names.join(' or ')})`;
  return 'unknown key; nothing can be set here';
}

/**
 * Unknown `PREFIX*` variables in `env` (a warning, not an error: the environment carries other programs'
 * variables too), each with the closest known name.
 */
export function unknownEnv(
  env: Record<string, string | undefined>,
  prefix: string,
  known: Iterable<string>,
): ConfigProblem[] {
  const names = new Set(known);
  const stems = [...names].filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length));
  return Object.keys(env)
    .filter((n) => n.startsWith(prefix) && !names.has(n))
    .sort()
    .map((n) => {
      const s = closest(n.slice(prefix.length), stems);
      return {
        path: n,
        reason:
          s === undefined
            ? 'unknown variable, ignored'
            : `unknown variable, ignored; did you mean ${prefix}${s}?`,
      };
    });
}

/**
 * The candidate nearest to `word` (case-insensitive edit distance, a transposition counting one), or undefined when
 * none is plausibly what was meant: a third of the letters of a word of three or more may differ, and one word
 * starting with the other counts (`ttl` → `ttlMs`, `CLAMD_FILE` → `CLAMD`).
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  const limit = w.length < 3 ? 0 : Math.max(1, Math.floor(w.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const l = c.toLowerCase();
    const d = editDistance(w, l);
    const prefix = Math.min(w.length, l.length) >= 3 && (l.startsWith(w) || w.startsWith(l));
    if ((d <= limit || prefix) && d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * Optimal-string-alignment distance (Damerau-Levenshtein without edits inside a transposed pair): insertions,
 * deletions, substitutions and adjacent transpositions cost one each. Hand-written: registry packages offer
 * plain Levenshtein, which charges two for `scnaners`.
 */
export function editDistance(a: string, b: string): number {
  // Rows i-2, i-1 and i of the classic table.
  let prev2: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, prev2[j - 2]! + 1);
      row.push(d);
    }
    prev2 = prev;
    prev = row;
  }
  return prev[b.length]!;
}
