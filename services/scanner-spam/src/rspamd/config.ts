import { Type, type Static } from '@sinclair/typebox';
import { headerNameSchema, headerSchema, literals, replySchema, stageList } from '@hookgate/contracts';
import { SpamAction } from '../schema.js';

/**
 * Config of the Rspamd scanner (`scanners.rspamd` in hookgate's config; `HOOKGATE_RSPAMD_URL` sets `url`).
 * Every key has a default; without `url` the scanner is inactive. Failure policy keys (required, onError,
 * concurrency, ...) belong to the central config, not here.
 */
export const RspamdConfigSchema = Type.Object(
  {
    /** Base URL of rspamd's normal worker, e.g. `http://127.0.0.1:11333`; unset = scanner inactive. */
    url: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$' })),
    /** Sent as the `Password` header (a controller or proxy that requires one); a secret, never logged. */
    password: Type.Optional(Type.String({ minLength: 1 })),
    stages: stageList(['data']),
    /** Per-request timeout, ms; the scan's deadline applies as well, whichever comes first. */
    timeoutMs: Type.Integer({ minimum: 100, maximum: 300_000, default: 10_000 }),
    /** Larger messages are not sent and are reported unscanned (too large), never clean. */
    maxMessageBytes: Type.Integer({ minimum: 1, default: 10_485_760 }),
    /** What rspamd's `reject` asks for (rspamd's milter `reject: discard|quarantine` still wins). */
    action: SpamAction('reject'),
    /** Reply on reject; rspamd's `smtp_message` replaces the text (and the code, when it starts with a 5xx). */
    reply: replySchema(550, '5.7.1', 'Spam message rejected'),
    /** Reply on `soft reject` (and `greylist`); rspamd's `smtp_message` replaces the text. */
    tempfailReply: replySchema(451, '4.7.1', 'Try again later'),
    /** What rspamd's `greylist` action means here: a 4xx (default) or accept, as rspamd's own milter proxy does. */
    greylist: literals(['tempfail', 'accept'] as const, { default: 'tempfail' }),
    /** Set (existing ones replaced) when rspamd says `add header`, and on spam that is kept (quarantine). */
    spamHeader: headerSchema('X-Spam', 'Yes'),
    /** Carries rspamd's score (e.g. `3.70`) on every scanned message that goes on; `null` adds none. */
    scoreHeader: headerNameSchema(null),
    /** Apply rspamd's `milter` block (add/remove headers, envelope changes) and `dkim-signature`. */
    milter: Type.Boolean({ default: true }),
    /** How many symbol names (highest score first) a result carries. */
    maxSymbols: Type.Integer({ minimum: 1, maximum: 200, default: 20 }),
  },
  { default: {} },
);

/** The Rspamd scanner's config with defaults applied. */
export type RspamdConfig = Static<typeof RspamdConfigSchema>;

/** What `rspamdScanner` takes: any subset of the config, with the URL required. */
export type RspamdScannerConfig = Partial<RspamdConfig> & { url: string };
