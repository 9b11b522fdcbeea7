import { describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import {
  closest,
  ConfigError,
  editDistance,
  unknownEnv,
  unknownKeys,
  validateConfig,
} from '@hookgate/config';

// A schema shaped like hookgate's: nested objects with defaults, records, unions with null, arrays of objects.
const Schema = Type.Object({
  listen: Type.String({ default: '127.0.0.1:8080' }),
  scanners: Type.Object(
    {
      clamav: Type.Object(
        {
          endpoint: Type.Optional(Type.String()),
          reply: Type.Object(
            { code: Type.Integer(), text: Type.String() },
            { default: { code: 550, text: 'x' } },
          ),
        },
        { default: {} },
      ),
      rspamd: Type.Object({ url: Type.Optional(Type.String()) }, { default: {} }),
    },
    { default: {} },
  ),
  stages: Type.Object(
    {
      deadlineMs: Type.Object(
        { data: Type.Integer({ default: 20_000 }), rcpt: Type.Integer({ default: 5_000 }) },
        { default: {} },
      ),
    },
    { default: {} },
  ),
  policies: Type.Record(
    Type.String({ pattern: '^[a-z]+$' }),
    Type.Object({ weights: Type.Record(Type.String(), Type.Number(), { default: {} }) }),
    { default: {} },
  ),
  header: Type.Union([Type.Object({ name: Type.String(), value: Type.String() }), Type.Null()], {
    default: null,
  }),
  rules: Type.Array(
    Type.Object({
      name: Type.String(),
      match: Type.Object({ senderDomains: Type.Optional(Type.Array(Type.String())) }, { default: {} }),
    }),
    { default: [] },
  ),
  labels: Type.Object({}, { additionalProperties: true, default: {} }),
  both: Type.Intersect(
    [Type.Object({ a: Type.Optional(Type.Number()) }), Type.Object({ b: Type.Optional(Type.Number()) })],
    { default: {} },
  ),
});

const problemsOf = (input: unknown): { path: string; reason: string }[] => {
  try {
    validateConfig(Schema, input, 'test');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('unknown keys', () => {
  it('names a top-level typo and the key it probably meant', () => {
    expect(problemsOf({ scaners: {} })).toEqual([
      { path: 'scaners', reason: 'unknown key; did you mean scanners?' },
    ]);
  });

  it('names nested typos with their full path, in the union branch and array item they are in', () => {
    expect(problemsOf({ scanners: { clamv: { endpoint: '/run/clamd.sock' } } })).toEqual([
      { path: 'scanners.clamv', reason: 'unknown key; did you mean scanners.clamav?' },
    ]);
    expect(problemsOf({ stages: { deadlineMs: { dta: 1000 } } })).toEqual([
      { path: 'stages.deadlineMs.dta', reason: 'unknown key; did you mean stages.deadlineMs.data?' },
    ]);
    expect(problemsOf({ scanners: { clamav: { reply: { code: 550, txt: 'x', text: 'y' } } } })).toEqual([
      { path: 'scanners.clamav.reply.txt', reason: 'unknown key; did you mean scanners.clamav.reply.text?' },
    ]);
    expect(problemsOf({ header: { name: 'X-A', vaule: 'b', value: 'c' } })).toEqual([
      { path: 'header.vaule', reason: 'unknown key; did you mean header.value?' },
    ]);
    expect(problemsOf({ rules: [{ name: 'a' }, { name: 'b', match: { senderDomain: ['x'] } }] })).toEqual([
      {
        path: 'rules.1.match.senderDomain',
        reason: 'unknown key; did you mean rules.1.match.senderDomains?',
      },
    ]);
  });

  it('lists the known keys when nothing is close', () => {
    expect(problemsOf({ scanners: { nosuch: 1 } })).toEqual([
      { path: 'scanners.nosuch', reason: 'unknown key; known here: clamav, rspamd' },
    ]);
  });

  it('accepts any key inside a deliberately open record or object, and checks what the record holds', () => {
    expect(
      problemsOf({ policies: { strict: { weights: { rspamd: 2, anything: 1 } } }, labels: { whatever: 1 } }),
    ).toEqual([]);
    expect(problemsOf({ policies: { strict: { wieghts: {}, weights: {} } } })).toEqual([
      { path: 'policies.strict.wieghts', reason: 'unknown key; did you mean policies.strict.weights?' },
    ]);
    // A record whose names have a pattern: a name outside it is named (TypeBox's checker lets it pass).
    expect(problemsOf({ policies: { 'Bad Name': {} } })).toEqual([
      { path: 'policies.Bad Name', reason: 'not an allowed name (must match ^[a-z]+$)' },
    ]);
  });

  it('knows the keys of every member of an intersection', () => {
    expect(problemsOf({ both: { a: 1, b: 2 } })).toEqual([]);
    expect(problemsOf({ both: { a: 1, c: 2 } })).toEqual([
      { path: 'both.c', reason: 'unknown key; known here: a, b' },
    ]);
  });

  it('lists several problems at once, unknown keys first, next to the type errors', () => {
    const problems = problemsOf({
      scaners: {},
      listen: [],
      stages: { deadlineMs: { dta: 1, rcpt: 'soon' } },
    });
    expect(problems.map((p) => p.path)).toEqual([
      'scaners',
      'stages.deadlineMs.dta',
      'listen',
      'stages.deadlineMs.rcpt',
    ]);
    expect(() =>
      validateConfig(Schema, { scaners: {}, stages: { deadlineMs: { dta: 1 } } }, 'f.yaml'),
    ).toThrow(
      'invalid configuration (f.yaml):\n  - scaners: unknown key; did you mean scanners?\n  - stages.deadlineMs.dta: unknown key; did you mean stages.deadlineMs.data?',
    );
  });

  it('keeps its own message where a schema closes an object itself', () => {
    const Closed = Type.Object({ port: Type.Integer() }, { additionalProperties: false });
    expect(() => validateConfig(Closed, { port: 1, prot: 2 }, 't')).toThrow(
      'invalid configuration (t):\n  - prot: unknown key; did you mean port?',
    );
  });

  it('leaves values of the wrong type to the validator', () => {
    expect(unknownKeys(Schema, { scanners: 5, rules: 'x', header: 'y' })).toEqual([]);
    expect(unknownKeys(Schema, null)).toEqual([]);
  });

  it('returns the valid config with defaults when every key is known', () => {
    const c = validateConfig(Schema, { scanners: { clamav: { endpoint: '/s' } } }, 'test');
    expect(c.scanners.clamav.endpoint).toBe('/s');
    expect(c.stages.deadlineMs.data).toBe(20_000);
  });
});

describe('closest', () => {
  it('counts a transposition as one edit', () => {
    expect(editDistance('scanners', 'scnaners')).toBe(1);
    expect(editDistance('clamav', 'clamv')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  it('suggests a near or case-different key, a key the word starts, and nothing far off', () => {
    expect(closest('maxbodybytes', ['maxBodyBytes', 'listen'])).toBe('maxBodyBytes');
    expect(closest('ttl', ['ttlMs', 'prefix'])).toBe('ttlMs');
    expect(closest('data', ['dsn', 'data'])).toBe('data');
    expect(closest('nosuch', ['clamav', 'dlp', 'noop'])).toBeUndefined();
    // Short words: only a different case; one letter off would suggest nearly anything.
    expect(closest('X', ['x'])).toBe('x');
    expect(closest('c', ['a', 'b'])).toBeUndefined();
    expect(closest('xy', ['ab', 'xz'])).toBeUndefined();
  });
});

describe('unknown environment variables', () => {
  const known = ['HOOKGATE_CLAMD', 'HOOKGATE_REDIS_URL', 'HOOKGATE_REDIS_PASSWORD_FILE'];

  it('warns about each unknown name with the prefix, with the closest known one', () => {
    expect(
      unknownEnv(
        {
          HOOKGATE_REDIS_URI: 'redis://x',
          HOOKGATE_FOO: '1',
          HOOKGATE_CLAMD: 'x',
          PATH: '/bin',
          OTHER_FOO: '',
        },
        'HOOKGATE_',
        known,
      ),
    ).toEqual([
      { path: 'HOOKGATE_FOO', reason: 'unknown variable, ignored' },
      { path: 'HOOKGATE_REDIS_URI', reason: 'unknown variable, ignored; did you mean HOOKGATE_REDIS_URL?' },
    ]);
    expect(unknownEnv({ HOOKGATE_CLAMD_FILE: '/x' }, 'HOOKGATE_', known)).toEqual([
      { path: 'HOOKGATE_CLAMD_FILE', reason: 'unknown variable, ignored; did you mean HOOKGATE_CLAMD?' },
    ]);
    expect(unknownEnv({ HOOKGATE_REDIS_PASSWORD_FILE: '/x' }, 'HOOKGATE_', known)).toEqual([]);
  });
});
