/**
 * Input generation shared by every fuzz target: a value tree (the JSON data model plus what msgpack and CBOR add),
 * structure-aware mutations of that tree, three encoders (JSON, MessagePack, CBOR) that can also write what a
 * normal encoder cannot (duplicate keys, 1e309, nesting deeper than a recursive encoder survives), and byte-level
 * mutations of the encoded bytes.
 *
 * Why fast-check rather than a hand-written mutator: its generators compose (records of plausible and hostile
 * field values), every run is reproducible from the printed seed and path, and a failure shrinks to a small
 * counterexample. Mutations are plain data (`TreeOp`, `ByteOp`) applied by pure functions here, so they shrink too.
 */
import fc from 'fast-check';
import { encode as msgpackEncode } from '@msgpack/msgpack';
import { Encoder as CborEncoder } from 'cbor-x';

/** A value before encoding. `Nest` and `Raw` are written by the encoders as bytes no encoder would produce. */
export type Tree =
  | null
  | undefined
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | Nest
  | Raw
  | Tree[]
  | { [key: string]: Tree };

/** `depth` levels of one-element arrays or maps around a null: deep nesting without deep recursion here. */
export class Nest {
  constructor(
    readonly kind: 'array' | 'map',
    readonly depth: number,
  ) {}
}

/** A literal that only exists as text in JSON (1e309, -0, NaN, 123456789012345678901234567890). */
export class Raw {
  constructor(
    readonly json: string,
    readonly value: number | bigint,
  ) {}
}

/** Strings that have broken parsers: injection, prototype keys, lone surrogates, NUL, bidi, case variants. */
export const EVIL_STRINGS: readonly string[] = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\r\n',
  'x\r\nX-Injected: yes',
  '\n.\r\n',
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'toString',
  '\ud800',
  '\udfff',
  'a\udc00b',
  '\u202e',
  '\ufeff',
  '\uffff',
  'é',
  '😀',
  'ı',
  'CONNECT',
  'Data',
  'dsn',
  'delivery',
  'null',
  'NaN',
  '-0',
  '1e309',
  '<>',
  '<@>',
  '"',
  '\\',
  '%00',
  '%2e%2e',
  '../../etc/passwd',
  '{registration_id}',
  '/',
  '~',
  '~2',
  '/action',
  '/rawMessage',
  '/envelope/to/-',
  '*',
  'AND',
  'NOT',
  '::1',
  '0.0.0.0',
  '256.256.256.256',
  'IPv6:::1',
  '2001:db8::1',
  'x'.repeat(65),
  'A'.repeat(257),
  '=?utf-8?b?w6k=?=',
  '%s%n%x',
  '${jndi:x}',
];

export const EVIL_NUMBERS: readonly (number | bigint | Raw)[] = [
  0,
  -0,
  -1,
  1,
  1.5,
  0.1,
  199,
  200,
  451,
  550,
  599,
  600,
  65535,
  65536,
  2 ** 31,
  2 ** 32,
  2 ** 53 - 1,
  2 ** 53 + 2,
  -(2 ** 53),
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  Infinity,
  -Infinity,
  NaN,
  2n ** 64n - 1n,
  -(2n ** 63n),
  2n ** 53n + 1n,
  new Raw('1e309', Infinity),
  new Raw('-1e309', -Infinity),
  new Raw('-0', -0),
  new Raw('1e-400', 0),
  new Raw('123456789012345678901234567890', 123456789012345678901234567890n),
  new Raw('NaN', NaN),
  new Raw('0x10', 16),
  new Raw('01', 1),
  new Raw('1.', 1),
  new Raw('+1', 1),
];

/** One value of any type: the type confusion every field should survive. */
export const evilValue: fc.Arbitrary<Tree> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...EVIL_STRINGS) },
  { weight: 3, arbitrary: fc.constantFrom(...EVIL_NUMBERS) },
  { weight: 2, arbitrary: fc.constantFrom<Tree>(null, undefined, true, false, [], {}, [null], { '': null }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 24 }) },
  { weight: 2, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 16 }) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Tree> },
);

/** A field that is usually what `good` makes, sometimes anything at all. */
export function field<T extends Tree>(good: fc.Arbitrary<T>): fc.Arbitrary<Tree> {
  return fc.oneof({ weight: 6, arbitrary: good as fc.Arbitrary<Tree> }, { weight: 1, arbitrary: evilValue });
}

// ---------------------------------------------------------------------------------------------------------------
// Tree mutations

export type TreeOp =
  | { k: 'replace'; at: number; v: Tree }
  | { k: 'delete'; at: number }
  | { k: 'addKey'; at: number; key: string; v: Tree }
  /** Writes the object's key a second time with another value: a duplicate key on the wire. */
  | { k: 'dupKey'; at: number; v: Tree }
  | { k: 'nest'; at: number; kind: 'array' | 'map'; depth: number }
  | { k: 'bigArray'; at: number; n: number }
  | { k: 'bigString'; at: number; n: number; unit: string }
  | { k: 'wrap'; at: number; kind: 'array' | 'map' };

const KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  '',
  'context',
  'stage',
  'envelope',
  'message',
  'client',
  'ip',
  'action',
  'x',
];

export const treeOp: fc.Arbitrary<TreeOp> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('replace' as const), at: fc.nat(), v: evilValue }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('delete' as const), at: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('addKey' as const),
      at: fc.nat(),
      key: fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 8 })),
      v: evilValue,
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('dupKey' as const), at: fc.nat(), v: evilValue }) },
  // Sizes past the limits (nesting, items, bytes) are rarer than ordinary ones: they cost the harness most.
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('nest' as const),
      at: fc.nat(),
      kind: fc.constantFrom('array' as const, 'map' as const),
      depth: fc.oneof(
        { weight: 9, arbitrary: fc.integer({ min: 2, max: 200 }) },
        { weight: 1, arbitrary: fc.constantFrom(1_000, 10_000, 100_000) },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('bigArray' as const),
      at: fc.nat(),
      n: fc.oneof(
        { weight: 9, arbitrary: fc.integer({ min: 2, max: 300 }) },
        { weight: 1, arbitrary: fc.constantFrom(5_000, 30_000) },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('bigString' as const),
      at: fc.nat(),
      n: fc.oneof(
        { weight: 9, arbitrary: fc.integer({ min: 65, max: 5_000 }) },
        { weight: 1, arbitrary: fc.constantFrom(70_000, 300_000) },
      ),
      unit: fc.constantFrom('a', 'é', '😀', '\u0000', '\r\n', '\ud800', '%'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('wrap' as const),
      at: fc.nat(),
      kind: fc.constantFrom('array' as const, 'map' as const),
    }),
  },
);

type Slot = { get: () => Tree; set: (v: Tree) => void; remove: () => void };

function isMap(v: Tree): v is { [key: string]: Tree } {
  return (
    v !== null &&
    typeof v === 'object' &&
    !Array.isArray(v) &&
    !(v instanceof Uint8Array) &&
    !(v instanceof Nest) &&
    !(v instanceof Raw)
  );
}

/** Every node of the tree as a slot that can be read, replaced or removed; index 0 is the root. */
function slots(root: { v: Tree }): Slot[] {
  const out: Slot[] = [{ get: () => root.v, set: (v) => (root.v = v), remove: () => (root.v = undefined) }];
  const walk = (node: Tree, depth: number) => {
    if (depth > 32) return;
    if (Array.isArray(node) && !BIG.has(node)) {
      // Long arrays: a sample of elements is enough to reach every shape.
      const step = Math.max(1, Math.floor(node.length / 16));
      for (let i = 0; i < node.length; i += step) {
        out.push({ get: () => node[i], set: (v) => (node[i] = v), remove: () => node.splice(i, 1) });
        walk(node[i], depth + 1);
      }
    } else if (isMap(node)) {
      for (const key of Object.keys(node)) {
        out.push({ get: () => node[key], set: (v) => (node[key] = v), remove: () => delete node[key] });
        walk(node[key], depth + 1);
      }
    }
  };
  walk(root.v, 0);
  return out;
}

/** The sentinel key that the encoders turn into `key` again, giving the object the same key twice. */
export function dupKeyMarker(key: string): string {
  return `\u0001${key.slice(1)}`;
}

function clone(v: Tree): Tree {
  if (Array.isArray(v)) return v.map(clone);
  if (isMap(v)) {
    const out: { [key: string]: Tree } = {};
    for (const k of Object.keys(v))
      Object.defineProperty(out, k, {
        value: clone(v[k]),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    return out;
  }
  return v;
}

const MAX_BIG_BYTES = 2 * 1024 * 1024;
/** Arrays made by `bigArray`: later ops treat them as leaves, so no op grows every shared copy at once. */
const BIG = new WeakSet<Tree[]>();

/** Rough encoded size of a value, bytes (walks at most a few thousand nodes). */
function approxSize(v: Tree): number {
  let budget = 5_000;
  const size = (x: Tree): number => {
    if (budget-- <= 0) return 64;
    if (typeof x === 'string') return x.length * 3 + 2;
    if (x instanceof Uint8Array) return x.length + 2;
    if (x instanceof Nest) return x.depth * 5 + 1;
    if (Array.isArray(x))
      return BIG.has(x) ? x.length * size(x[0]) + 5 : x.reduce<number>((n, e) => n + size(e), 2);
    if (isMap(x)) return Object.keys(x).reduce((n, k) => n + k.length + size(x[k]), 2);
    return 9;
  };
  return Math.max(1, size(v));
}

/** Applies mutations to a copy of `tree`. */
export function mutateTree(tree: Tree, ops: readonly TreeOp[]): Tree {
  const root = { v: clone(tree) };
  let dups = false;
  for (const op of ops) {
    const all = slots(root);
    const slot = all[op.at % all.length]!;
    switch (op.k) {
      case 'replace':
        // Values from the generators may be shared constants: insert copies, later ops edit them in place.
        slot.set(clone(op.v));
        break;
      case 'delete':
        slot.remove();
        break;
      case 'addKey': {
        const t = slot.get();
        // defineProperty: `__proto__` becomes an own key, as a wire decoder would produce it.
        if (isMap(t))
          Object.defineProperty(t, op.key, {
            value: clone(op.v),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        else if (Array.isArray(t)) t.push(clone(op.v));
        break;
      }
      case 'dupKey': {
        const t = slot.get();
        if (isMap(t)) {
          const key = Object.keys(t).find((k) => k.length > 0 && k.charCodeAt(0) !== 1);
          if (key !== undefined) {
            t[dupKeyMarker(key)] = clone(op.v);
            dups = true;
          }
        }
        break;
      }
      case 'nest':
        slot.set(new Nest(op.kind, op.depth));
        break;
      case 'bigArray': {
        // Copies share one subtree (the harness does not pay for n clones); the encoded array stays within a few
        // MiB: past every body limit, without making the harness the slow part.
        const t = slot.get();
        const big = new Array<Tree>(
          Math.max(2, Math.min(op.n, Math.floor(MAX_BIG_BYTES / approxSize(t)))),
        ).fill(t);
        BIG.add(big);
        slot.set(big);
        break;
      }
      case 'bigString':
        slot.set(op.unit.repeat(Math.ceil(op.n / op.unit.length)));
        break;
      case 'wrap': {
        const t = slot.get();
        slot.set(op.kind === 'array' ? [t] : { v: t });
        break;
      }
    }
  }
  if (dups && root.v !== null && typeof root.v === 'object') WITH_DUPS.add(root.v);
  return root.v;
}

/** Trees that hold dup-key markers (most do not: the encoders skip looking for them). */
const WITH_DUPS = new WeakSet<object>();

// ---------------------------------------------------------------------------------------------------------------
// Encoders

const MARK = '\u0002';

interface Marks {
  /** Marker string → replacement bytes/text. */
  table: Map<string, { json: string; msgpack: Buffer; cbor: Buffer }>;
}

function nestBytes(n: Nest, format: 'msgpack' | 'cbor'): Buffer {
  // msgpack: fixarray(1) 0x91 / fixmap(1) 0x81 + fixstr "k"; CBOR: array(1) 0x81 / map(1) 0xa1 + text "k".
  const open =
    format === 'msgpack'
      ? n.kind === 'array'
        ? [0x91]
        : [0x81, 0xa1, 0x6b]
      : n.kind === 'array'
        ? [0x81]
        : [0xa1, 0x61, 0x6b];
  const leaf = format === 'msgpack' ? 0xc0 : 0xf6;
  const out = Buffer.alloc(open.length * n.depth + 1);
  for (let i = 0; i < n.depth; i++) out.set(open, i * open.length);
  out[out.length - 1] = leaf;
  return out;
}

function nestJson(n: Nest): string {
  return n.kind === 'array'
    ? `${'['.repeat(n.depth)}null${']'.repeat(n.depth)}`
    : `${'{"k":'.repeat(n.depth)}null${'}'.repeat(n.depth)}`;
}

/** Replaces special values by marker strings the encoders find again in their output. */
function prepare(tree: Tree, marks: Marks, format: 'json' | 'msgpack' | 'cbor'): unknown {
  // One marker per distinct value, so a big array of copies costs one replacement pass, not one per copy.
  const ids = new Map<string, string>();
  const mark = (json: string, nested?: Nest): string => {
    const key = nested ? `${nested.kind}:${nested.depth}` : `raw:${json}`;
    const known = ids.get(key);
    if (known !== undefined) return known;
    const id = `${MARK}${marks.table.size.toString(36)}${MARK}`;
    ids.set(key, id);
    marks.table.set(id, {
      json,
      msgpack: nested ? nestBytes(nested, 'msgpack') : Buffer.alloc(0),
      cbor: nested ? nestBytes(nested, 'cbor') : Buffer.alloc(0),
    });
    return id;
  };
  const walk = (v: Tree): unknown => {
    if (v instanceof Nest) return mark(nestJson(v), v);
    if (v instanceof Raw)
      return format === 'json'
        ? mark(v.json)
        : typeof v.value === 'bigint' && format === 'msgpack'
          ? Number(v.value)
          : v.value;
    if (typeof v === 'number') {
      if (format === 'json' && (!Number.isFinite(v) || Object.is(v, -0)))
        return mark(Number.isNaN(v) ? 'NaN' : Object.is(v, -0) ? '-0' : v > 0 ? '1e999' : '-1e999');
      return v;
    }
    if (typeof v === 'bigint') return format === 'json' ? mark(v.toString()) : v;
    if (v instanceof Uint8Array) return format === 'json' ? Buffer.from(v).toString('base64') : v;
    if (Array.isArray(v)) return v.map(walk);
    if (isMap(v)) {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v))
        Object.defineProperty(out, k, {
          value: walk(v[k]),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      return out;
    }
    return v;
  };
  return walk(tree);
}

/** Replaces every occurrence of `find` in `buf` (byte patterns; markers and dup keys are unique enough). */
function replaceAll(buf: Buffer, find: Buffer, by: Buffer): Buffer {
  let at = buf.indexOf(find);
  if (at < 0) return buf;
  const parts: Buffer[] = [];
  let from = 0;
  while (at >= 0) {
    parts.push(buf.subarray(from, at), by);
    from = at + find.length;
    at = buf.indexOf(find, from);
  }
  parts.push(buf.subarray(from));
  return Buffer.concat(parts);
}

export function toJson(tree: Tree): Buffer {
  const marks: Marks = { table: new Map() };
  const prepared = prepare(tree, marks, 'json');
  let text = JSON.stringify(prepared === undefined ? null : prepared) ?? 'null';
  for (const [id, r] of marks.table) text = text.split(JSON.stringify(id)).join(r.json);
  return restoreDupKeys(Buffer.from(text, 'utf8'), tree, 'json');
}

const msgpackOptions = { useBigInt64: true, ignoreUndefined: false } as const;
const cborEncoder = new CborEncoder({ useRecords: false, tagUint8Array: false, variableMapSize: true });

export function toMsgpack(tree: Tree): Buffer {
  const marks: Marks = { table: new Map() };
  const bytes = msgpackEncode(prepare(tree, marks, 'msgpack'), msgpackOptions);
  let out: Buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const [id, r] of marks.table) out = replaceAll(out, Buffer.from(msgpackEncode(id)), r.msgpack);
  return restoreDupKeys(out, tree, 'msgpack');
}

export function toCbor(tree: Tree): Buffer {
  const marks: Marks = { table: new Map() };
  let out: Buffer = Buffer.from(cborEncoder.encode(prepare(tree, marks, 'cbor')));
  for (const [id, r] of marks.table) out = replaceAll(out, Buffer.from(cborEncoder.encode(id)), r.cbor);
  return restoreDupKeys(out, tree, 'cbor');
}

/** Turns every dup-key marker back into the key it duplicates (same byte length, so framing stays valid). */
function restoreDupKeys(buf: Buffer, tree: Tree, format: 'json' | 'msgpack' | 'cbor'): Buffer {
  if (tree === null || typeof tree !== 'object' || !WITH_DUPS.has(tree)) return buf;
  const keys = new Set<string>();
  const walk = (v: Tree, depth: number) => {
    if (depth > 40) return;
    if (Array.isArray(v)) {
      const step = Math.max(1, Math.floor(v.length / 16));
      for (let i = 0; i < v.length; i += step) walk(v[i], depth + 1);
    } else if (isMap(v)) {
      for (const k of Object.keys(v)) {
        if (k.charCodeAt(0) === 1) keys.add(k);
        walk(v[k], depth + 1);
      }
    }
  };
  walk(tree, 0);
  let out = buf;
  for (const marker of keys) {
    // The marker replaces the key's first character by U+0001; the original key beside it in the same object says
    // which character that was. In msgpack and CBOR the marker must have the key's byte length (length prefixes).
    const original = findOriginal(tree, marker);
    if (original === undefined) continue;
    const enc = (s: string) =>
      format === 'json'
        ? Buffer.from(JSON.stringify(s))
        : format === 'msgpack'
          ? Buffer.from(msgpackEncode(s))
          : Buffer.from(cborEncoder.encode(s));
    const from = enc(marker);
    const to = enc(original);
    if (format === 'json' || from.length === to.length) out = replaceAll(out, from, to);
  }
  return out;
}

function findOriginal(tree: Tree, marker: string): string | undefined {
  let found: string | undefined;
  const walk = (v: Tree, depth: number) => {
    if (found !== undefined || depth > 40) return;
    if (Array.isArray(v)) {
      const step = Math.max(1, Math.floor(v.length / 16));
      for (let i = 0; i < v.length; i += step) walk(v[i], depth + 1);
    } else if (isMap(v)) {
      const keys = Object.keys(v);
      if (keys.includes(marker))
        found = keys.find(
          (k) =>
            k !== marker &&
            k.length === marker.length &&
            k.slice(1) === marker.slice(1) &&
            dupKeyMarker(k) === marker,
        );
      for (const k of keys) walk(v[k], depth + 1);
    }
  };
  walk(tree, 0);
  return found;
}

// ---------------------------------------------------------------------------------------------------------------
// Byte mutations

export type ByteOp =
  | { k: 'flip'; at: number; bit: number }
  | { k: 'set'; at: number; byte: number }
  | { k: 'insert'; at: number; bytes: Uint8Array }
  | { k: 'delete'; at: number; n: number }
  | { k: 'truncate'; at: number }
  | { k: 'repeat'; at: number; n: number; times: number }
  | { k: 'badUtf8'; at: number; seq: number };

/** Byte sequences that are not UTF-8: lone continuation bytes, overlong forms, surrogates, code points above U+10FFFF. */
const BAD_UTF8 = [
  [0x80],
  [0xbf],
  [0xc0, 0xaf],
  [0xc3],
  [0xc3, 0x28],
  [0xe0, 0x80, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xfe],
  [0xff],
  [0xef, 0xbf, 0xbe],
];
const INTERESTING = [
  0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x3a, 0x2c, 0xc0, 0xc1, 0xc4, 0xd9,
  0xdc, 0xde, 0xdf, 0xc7, 0xd4, 0xff, 0x9f, 0xbf, 0x5f, 0x7f, 0xf7, 0xf9, 0xfb, 0x1f, 0x3f,
];

export const byteOp: fc.Arbitrary<ByteOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('set' as const),
      at: fc.nat(),
      byte: fc.oneof(fc.constantFrom(...INTERESTING), fc.nat(255)),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('insert' as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('delete' as const),
      at: fc.nat(),
      n: fc.integer({ min: 1, max: 16 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('truncate' as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('repeat' as const),
      at: fc.nat(),
      n: fc.integer({ min: 1, max: 32 }),
      times: fc.integer({ min: 2, max: 64 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('badUtf8' as const),
      at: fc.nat(),
      seq: fc.nat(BAD_UTF8.length - 1),
    }),
  },
);

export function mutateBytes(input: Buffer, ops: readonly ByteOp[]): Buffer {
  let b = Buffer.from(input);
  for (const op of ops) {
    const at = b.length === 0 ? 0 : op.at % (b.length + (op.k === 'insert' || op.k === 'badUtf8' ? 1 : 0));
    switch (op.k) {
      case 'flip':
        if (b.length > 0) b[at] = b[at]! ^ (1 << op.bit);
        break;
      case 'set':
        if (b.length > 0) b[at] = op.byte;
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), op.bytes, b.subarray(at)]);
        break;
      case 'badUtf8':
        b = Buffer.concat([b.subarray(0, at), Buffer.from(BAD_UTF8[op.seq]!), b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + op.n)]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'repeat': {
        const piece = b.subarray(at, at + op.n);
        b = Buffer.concat([
          b.subarray(0, at),
          ...Array.from({ length: op.times }, () => piece),
          b.subarray(at + op.n),
        ]);
        break;
      }
    }
  }
  return b;
}

/** Printable form of bytes for a failure report: text when it is mostly text, else hex; bounded. */
export function showBytes(b: Buffer, max = 1500): string {
  const printable =
    b.subarray(0, 2000).filter((c) => c >= 0x20 && c < 0x7f).length / Math.max(1, Math.min(b.length, 2000));
  const body =
    printable > 0.85
      ? JSON.stringify(b.subarray(0, max).toString('latin1'))
      : b.subarray(0, max / 2).toString('hex');
  return `${b.length} bytes${b.length > max ? ' (truncated)' : ''}${printable > 0.85 ? ' latin1 ' : ' hex '}${body}`;
}
