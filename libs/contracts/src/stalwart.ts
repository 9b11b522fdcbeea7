/**
 * The legacy Stalwart MTA Hooks wire format (v0.8.2 and later), as Stalwart's code sends and parses it, which differs
 * from its documentation (docs/protocols/stalwart.md). Schemas are lenient where Stalwart is lenient: unknown keys
 * are allowed everywhere.
 */
import { Type, type Static } from '@sinclair/typebox';
import { LEGACY_STAGES } from './model.js';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

/**
 * Field limits (issue 11): generous next to SMTP's own (RFC 5321: a path of 256 octets, a command line of 512, at
 * least 100 recipients), tight enough that one request cannot park megabytes of fields in Redis. Over a limit is a
 * 400 naming the field; the body as a whole is bounded by `limits.maxBodyBytes` (413).
 */
const MAX_ADDRESS = 1024;
const MAX_RECIPIENTS = 10_000;
const MAX_HEADERS = 10_000;

export const StalwartAddress = Type.Object({
  address: Type.String({ maxLength: MAX_ADDRESS }),
  parameters: Type.Optional(
    Type.Union([
      Type.Record(
        Type.String({ maxLength: 64 }),
        Type.Union([Type.String({ maxLength: 1024 }), Type.Null()]),
        { maxProperties: 32 },
      ),
      Type.Null(),
    ]),
  ),
});

const HeaderPairs = Type.Array(
  Type.Tuple([Type.String({ maxLength: 1024 }), Type.String({ maxLength: 1_000_000 })]),
  { maxItems: MAX_HEADERS },
);

export const StalwartRequest = Type.Object(
  {
    context: Type.Object({
      stage: Type.Union(LEGACY_STAGES.map((s) => Type.Literal(s))),
      client: Type.Object({
        ip: Type.String({ minLength: 1, maxLength: 64 }),
        port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
        ptr: Type.Optional(Nullable(Type.String({ maxLength: 1024 }))),
        helo: Type.Optional(Nullable(Type.String({ maxLength: 1024 }))),
        activeConnections: Type.Optional(Type.Integer({ minimum: 0 })),
      }),
      sasl: Type.Optional(
        Type.Union([
          Type.Object({
            login: Type.String({ maxLength: 1024 }),
            method: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
          }),
          Type.Null(),
        ]),
      ),
      tls: Type.Optional(
        Type.Union([
          Type.Object({
            version: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
            cipher: Type.Optional(Nullable(Type.String({ maxLength: 128 }))),
          }),
          Type.Null(),
        ]),
      ),
      server: Type.Optional(
        Type.Object({
          name: Type.Optional(Nullable(Type.String({ maxLength: 1024 }))),
          port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
          ip: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
        }),
      ),
      queue: Type.Optional(Type.Union([Type.Object({ id: Type.String({ maxLength: 256 }) }), Type.Null()])),
      protocol: Type.Optional(
        Type.Object({ version: Type.Optional(Type.Union([Type.Integer(), Type.String({ maxLength: 32 })])) }),
      ),
    }),
    envelope: Type.Optional(
      Type.Union([
        Type.Object({ from: StalwartAddress, to: Type.Array(StalwartAddress, { maxItems: MAX_RECIPIENTS }) }),
        Type.Null(),
      ]),
    ),
    message: Type.Optional(
      Type.Union([
        Type.Object({
          headers: HeaderPairs,
          serverHeaders: Type.Optional(Type.Union([HeaderPairs, Type.Null()])),
          contents: Type.String(),
          // A byte count: past 2^53 - 1 it is no longer exact (fuzz-stalwart-unsafe-size).
          size: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
        }),
        Type.Null(),
      ]),
    ),
  },
  { $id: 'StalwartRequest' },
);
export type StalwartRequest = Static<typeof StalwartRequest>;

/** Legacy response actions Stalwart's parser accepts; anything else (including `{}`) is a hook error. */
export type StalwartAction = 'accept' | 'reject' | 'discard' | 'quarantine';

export interface StalwartReply {
  status: number;
  /** What Stalwart's code reads. */
  enhanced_status?: string;
  /** What its docs and third-party crates use; ignored by Stalwart, sent for them. */
  enhancedStatus?: string;
  message: string;
}

/** Only the modification types Stalwart's parser knows; `parameters` is omitted or a string map, never null. */
export type StalwartModification =
  | { type: 'changeFrom'; value: string; parameters?: Record<string, string> }
  | { type: 'addRecipient'; value: string; parameters?: Record<string, string> }
  | { type: 'deleteRecipient'; value: string }
  | { type: 'replaceContents'; value: string }
  | { type: 'addHeader'; name: string; value: string }
  | { type: 'insertHeader'; index: number; name: string; value: string }
  | { type: 'changeHeader'; index: number; name: string; value: string }
  | { type: 'deleteHeader'; index: number; name: string };

export interface StalwartResponse {
  action: StalwartAction;
  response?: StalwartReply;
  modifications?: StalwartModification[];
}
