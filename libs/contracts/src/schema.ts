/**
 * Config schema fragments shared by hookgate's config and every scanner's own schema, in one convention: every key
 * has a default and objects default to `{}`, so a partial (or empty) config validates.
 */
import { Type, type TSchema } from '@sinclair/typebox';
import { STAGES } from './model.js';

/** A union of string literals that keeps its literal static type. */
export const literals = <T extends readonly string[]>(values: T, opts: object = {}) =>
  Type.Union(values.map((v) => Type.Literal(v)) as never, opts) as unknown as TSchema & { static: T[number] };

/** Stages a scanner subscribes to, at least one. */
export const stageList = (def: string[]) => Type.Array(literals(STAGES), { default: def, minItems: 1 });

/** An SMTP reply with a default; `text` is one line. */
export const replySchema = (code: number, enhanced: string, text: string) =>
  Type.Object(
    {
      code: Type.Integer({ minimum: 200, maximum: 599 }),
      enhanced: Type.Optional(Type.String({ pattern: '^[245]\\.\\d{1,3}\\.\\d{1,3}$' })),
      text: Type.String({ minLength: 1, maxLength: 400, pattern: '^[^\\r\\n]*$' }),
    },
    { default: { code, enhanced, text } },
  );

/** A header field name (RFC 5322 printable characters but the colon). */
export const HEADER_NAME_PATTERN = '^[!-9;-~]+$';

/** A header to add (`null` = none). */
export const headerSchema = (name: string, value: string) =>
  Type.Union(
    [
      Type.Object({
        name: Type.String({ pattern: HEADER_NAME_PATTERN }),
        value: Type.String({ pattern: '^[^\\r\\n]*$' }),
      }),
      Type.Null(),
    ],
    {
      default: { name, value },
    },
  );

/** A header name (`null` = none). */
export const headerNameSchema = (def: string | null) =>
  Type.Union([Type.String({ pattern: HEADER_NAME_PATTERN }), Type.Null()], { default: def });
