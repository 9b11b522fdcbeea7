/**
 * The structured policy of the config (docs/policy.md): banks that turn scanner results into an action for one
 * traffic class, and the rules that pick a bank per request.
 */
import { Type } from '@sinclair/typebox';
import { ACTIONS, FAILURE_ACTIONS, STAGES, UNSCANNED_ACTIONS, literals as lit } from '@hookgate/contracts';

export const ScannerOverrideSchema = Type.Object({
  enabled: Type.Optional(Type.Boolean()),
  required: Type.Optional(Type.Boolean()),
  onError: Type.Optional(lit(FAILURE_ACTIONS)),
  onTimeout: Type.Optional(lit(FAILURE_ACTIONS)),
  onMissing: Type.Optional(lit(FAILURE_ACTIONS)),
  onUnscanned: Type.Optional(lit(UNSCANNED_ACTIONS)),
  action: Type.Optional(lit(ACTIONS)),
});

const Score = Type.Union([Type.Number(), Type.Null()], { default: null });

/** A policy bank: how results become an action for one traffic class. */
export const PolicyBankSchema = Type.Object(
  {
    scanners: Type.Record(Type.String(), ScannerOverrideSchema, { default: {} }),
    spam: Type.Object(
      {
        mode: lit(['scanner', 'score'] as const, { default: 'scanner' }),
        addHeaderAt: Score,
        quarantineAt: Score,
        rejectAt: Score,
        weights: Type.Record(Type.String(), Type.Number({ minimum: 0 }), { default: {} }),
      },
      { default: {} },
    ),
    stamp: Type.Object(
      {
        verdict: Type.Boolean({ default: false }),
        spam: Type.Boolean({ default: true }),
        virus: Type.Boolean({ default: false }),
      },
      { default: {} },
    ),
    subjectTag: Type.Union(
      [Type.String({ minLength: 1, maxLength: 40, pattern: '^[^\\r\\n]*$' }), Type.Null()],
      { default: null },
    ),
  },
  { default: {} },
);

export const RuleSchema = Type.Object({
  name: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_.-]+$' }),
  match: Type.Object(
    {
      direction: Type.Optional(lit(['inbound', 'outbound'] as const)),
      senderDomains: Type.Optional(Type.Array(Type.String())),
      recipientDomains: Type.Optional(Type.Array(Type.String())),
      clientNetworks: Type.Optional(Type.Array(Type.String())),
      minSizeBytes: Type.Optional(Type.Integer({ minimum: 0 })),
      maxSizeBytes: Type.Optional(Type.Integer({ minimum: 0 })),
      stages: Type.Optional(Type.Array(lit(STAGES))),
    },
    { default: {} },
  ),
  policy: Type.String({ minLength: 1 }),
});
