/**
 * The DLP scanner's config schema, declared next to the plugin (style §4.5). Every key has a default, so `{}` is a
 * valid config; `resolveDlpConfig` applies them and lists every problem, including invalid operator rules.
 */
import { Type, type Static } from '@sinclair/typebox';
import { literals as lit } from '@hookgate/contracts';

/** Severities, lowest first. */
export const SEVERITIES = ['low', 'medium', 'high'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** What a hit does for one traffic direction. `off` skips the scan entirely. */
export const ENFORCE_MODES = ['reject', 'quarantine', 'advisory', 'off'] as const;
export type EnforceMode = (typeof ENFORCE_MODES)[number];

/** Stages that carry a message; the only ones DLP can subscribe to. */
export const DLP_STAGES = ['data', 'delivery', 'defer', 'dsn'] as const;

/** Severity as a number, for comparisons. */
export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

const Context = Type.Object({
  /** Words (case-insensitive, whole word) of which one must appear near the match. */
  words: Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { minItems: 1, maxItems: 1000 }),
  /** Characters either side of the match searched for a context word. */
  within: Type.Integer({ minimum: 1, maximum: 2000, default: 60 }),
});

const detectorFields = (severity: Severity) => ({
  enabled: Type.Boolean({ default: true }),
  severity: lit(SEVERITIES, { default: severity }),
  /** Distinct matches needed before the rule counts as hit. */
  minCount: Type.Integer({ minimum: 1, maximum: 10_000, default: 1 }),
  context: Type.Optional(Context),
});

const Detector = (severity: Severity) => Type.Object(detectorFields(severity), { default: {} });

/** An operator rule: exactly one of `pattern` (RE2 syntax) or `keywords`. */
export const OperatorRuleSchema = Type.Object({
  id: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' }),
  description: Type.Optional(Type.String({ maxLength: 400 })),
  enabled: Type.Boolean({ default: true }),
  /** RE2 syntax (linear time); compiled at startup, an invalid pattern is a config error. */
  pattern: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
  caseInsensitive: Type.Boolean({ default: false }),
  /** Dictionary: case-insensitive, whole words; a multi-word entry matches across any whitespace. */
  keywords: Type.Optional(
    Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { minItems: 1, maxItems: 100_000 }),
  ),
  context: Type.Optional(Context),
  minCount: Type.Integer({ minimum: 1, maximum: 10_000, default: 1 }),
  /** Count distinct matched values (true) or every occurrence (false). */
  unique: Type.Boolean({ default: true }),
  severity: lit(SEVERITIES, { default: 'medium' }),
});
export type OperatorRule = Static<typeof OperatorRuleSchema>;

const Reply = Type.Object(
  {
    code: Type.Integer({ minimum: 500, maximum: 599 }),
    enhanced: Type.Optional(Type.String({ pattern: '^5\\.\\d{1,3}\\.\\d{1,3}$' })),
    /** `{rules}` becomes `rule pci.card` or `rules pci.card, iban`. */
    text: Type.String({ minLength: 1, maxLength: 300, pattern: '^[^\\r\\n]*$' }),
  },
  {
    default: {
      code: 550,
      enhanced: '5.7.1',
      text: 'Message blocked by data loss prevention policy ({rules})',
    },
  },
);

/** The DLP scanner's config (`scanners.dlp` in hookgate's file). */
export const DlpConfigSchema = Type.Object({
  stages: Type.Array(lit(DLP_STAGES), { default: ['data'], minItems: 1, uniqueItems: true }),
  enforce: Type.Object(
    {
      /** Authenticated senders (`request.auth` present). */
      outbound: lit(ENFORCE_MODES, { default: 'reject' }),
      inbound: lit(ENFORCE_MODES, { default: 'advisory' }),
      /** Hits below this severity are only reported in the header, never enforced. */
      minSeverity: Type.Object(
        { outbound: lit(SEVERITIES, { default: 'low' }), inbound: lit(SEVERITIES, { default: 'low' }) },
        { default: {} },
      ),
    },
    { default: {} },
  ),
  reply: Reply,
  /** Advisory header listing `rule=count`; `null` adds none. */
  header: Type.Union(
    [Type.Object({ name: Type.String({ pattern: '^[!-9;-~]+$', maxLength: 76 }) }), Type.Null()],
    {
      default: { name: 'X-Hookgate-DLP' },
    },
  ),
  /**
   * Parts the engine cannot read (pdf, zip, images, encrypted) are always named as `not-inspected:<type>`.
   * `report`: a message with no hit passes with those symbols; `unscanned`: it is reported unscanned so the
   * verdict policy's `onUnscanned` decides.
   */
  notInspected: lit(['report', 'unscanned'] as const, { default: 'report' }),
  limits: Type.Object(
    {
      /** Larger messages are reported unscanned (too-large), never clean. */
      maxMessageBytes: Type.Integer({ minimum: 1024, default: 52_428_800 }),
      /** Characters of decoded text scanned per message (≈ bytes for ASCII); the rest is reported not inspected. */
      maxTextBytes: Type.Integer({ minimum: 1024, default: 10_485_760 }),
      /** MIME leaf parts (body text and attachments, nested messages included) inspected per message. */
      maxParts: Type.Integer({ minimum: 1, maximum: 100_000, default: 500 }),
      /** Depth of attached messages (message/rfc822, .eml) opened. */
      maxDepth: Type.Integer({ minimum: 0, maximum: 20, default: 5 }),
    },
    { default: {} },
  ),
  detectors: Type.Object(
    {
      'pci.card': Detector('high'),
      iban: Detector('medium'),
      'us.ssn': Type.Object(
        {
          ...detectorFields('high'),
          /** Also ignore published example numbers (078-05-1120, 219-09-9999, 123-45-6789, 111-11-1111...). */
          excludeTestNumbers: Type.Boolean({ default: true }),
        },
        { default: {} },
      ),
      'secret.aws': Detector('high'),
      'secret.github': Detector('high'),
      'secret.slack': Detector('high'),
      'secret.stripe': Detector('high'),
      'secret.google': Detector('high'),
      'secret.pem': Detector('high'),
      'secret.jwt': Detector('medium'),
    },
    { default: {} },
  ),
  rules: Type.Array(OperatorRuleSchema, { default: [], maxItems: 1000 }),
});

/** The resolved DLP config (every default applied). */
export type DlpScannerConfig = Static<typeof DlpConfigSchema>;
/** Settings of one built-in detector. */
export type DetectorSettings = DlpScannerConfig['detectors']['pci.card'] & { excludeTestNumbers?: boolean };

/** One config problem, with a dotted key path relative to the DLP config (`rules.2.pattern`). */
export interface DlpConfigProblem {
  path: string;
  reason: string;
}
