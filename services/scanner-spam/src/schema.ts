/**
 * Schema helpers shared by the rspamd and spamd configs, in the conventions of services/hookgate/src/config.ts:
 * every key has a default, objects default to `{}`, so a partial (or empty) config validates.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ERR, HookgateError, STAGES } from '@hookgate/contracts';

/** A union of string literals that keeps its literal static type. */
export const lit = <T extends readonly string[]>(values: T, opts: object = {}) =>
  Type.Union(values.map((v) => Type.Literal(v)) as never, opts) as unknown as TSchema & { static: T[number] };

export const StageList = (def: string[]) => Type.Array(lit(STAGES), { default: def, minItems: 1 });

/** An SMTP reply with a default; `text` is one line. */
export const Reply = (code: number, enhanced: string, text: string) =>
  Type.Object(
    {
      code: Type.Integer({ minimum: 200, maximum: 599 }),
      enhanced: Type.Optional(Type.String({ pattern: '^[245]\\.\\d{1,3}\\.\\d{1,3}$' })),
      text: Type.String({ minLength: 1, maxLength: 400, pattern: '^[^\\r\\n]*$' }),
    },
    { default: { code, enhanced, text } },
  );

const HEADER_NAME = '^[!-9;-~]+$';

/** A header to add (`null` = none). */
export const Header = (name: string, value: string) =>
  Type.Union([Type.Object({ name: Type.String({ pattern: HEADER_NAME }), value: Type.String({ pattern: '^[^\\r\\n]*$' }) }), Type.Null()], {
    default: { name, value },
  });

/** A header name (`null` = none). */
export const HeaderName = (def: string | null) => Type.Union([Type.String({ pattern: HEADER_NAME }), Type.Null()], { default: def });

export const SpamAction = (def: 'reject' | 'quarantine' | 'discard') => lit(['reject', 'quarantine', 'discard'] as const, { default: def });

/**
 * Fills defaults into a partial config and validates it, listing every problem. Lets the factories take the
 * central config's value as is, or a few keys in tests and the bench.
 */
export function withDefaults<T extends TSchema>(schema: T, input: Partial<Static<T>>, what: string): Static<T> {
  const value = Value.Default(schema, Value.Clone(input)) as Static<T>;
  const problems = [...Value.Errors(schema, value)].map((e) => `${e.path || '(root)'}: ${e.message}`);
  if (problems.length > 0) throw new HookgateError(ERR.CONFIG_INVALID, `invalid ${what} config: ${[...new Set(problems)].join('; ')}`);
  return value;
}
