import { Type, type Static } from '@sinclair/typebox';
import { headerNameSchema, headerSchema, literals, replySchema, stageList } from '@hookgate/contracts';
import { SpamAction } from '../schema.js';

/**
 * Config of the SpamAssassin scanner (`scanners.spamd` in hookgate's config; `HOOKGATE_SPAMD` sets `endpoint`).
 * Every key has a default; without `endpoint` the scanner is inactive. Failure policy keys belong to the central
 * config, not here.
 */
export const SpamdConfigSchema = Type.Object(
  {
    /** `tcp://host:port`, `host:port` or a spamd socket path; unset = scanner inactive. */
    endpoint: Type.Optional(Type.String({ minLength: 1 })),
    stages: stageList(['data']),
    /** `SYMBOLS` returns rule names; `REPORT` also per-rule scores (names then sort by score). */
    command: literals(['SYMBOLS', 'REPORT'] as const, { default: 'SYMBOLS' }),
    /** Sent as `User:` (per-user preferences, if spamd allows them). */
    user: Type.Optional(Type.String({ pattern: '^[\\w.@+-]{1,64}$' })),
    /** Per-request timeout, ms (SpamAssassin is slow: about 0.4 s per 20 KB on one core). */
    timeoutMs: Type.Integer({ minimum: 100, maximum: 300_000, default: 15_000 }),
    /** Larger messages are not sent and are reported unscanned (too large); spamc's default is 500 KB. */
    maxMessageBytes: Type.Integer({ minimum: 1, default: 512_000 }),
    /** What spam asks for. */
    action: SpamAction('reject'),
    reply: replySchema(550, '5.7.1', 'Message identified as spam'),
    /** Set on spam that is kept (quarantine), as SpamAssassin itself does. */
    spamHeader: headerSchema('X-Spam-Flag', 'YES'),
    /** SpamAssassin-style `No, score=-0.0 required=5.0 tests=...` on every scanned message; `null` adds none. */
    statusHeader: headerNameSchema('X-Spam-Status'),
    /** Carries the score alone (e.g. `-0.0`); `null` adds none. */
    scoreHeader: headerNameSchema(null),
    /** How many rule names a result carries. */
    maxSymbols: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
  },
  { default: {} },
);

/** The SpamAssassin scanner's config with defaults applied. */
export type SpamdConfig = Static<typeof SpamdConfigSchema>;

/** What `spamdScanner` takes: any subset of the config, with the endpoint required. */
export type SpamdScannerConfig = Partial<SpamdConfig> & { endpoint: string };
