import { Type, type Static } from '@sinclair/typebox';
import { headerSchema, literals, replySchema, stageList } from '@hookgate/contracts';

/**
 * Config of the ClamAV scanner (`scanners.clamav` in hookgate's config; `HOOKGATE_CLAMD` sets `endpoint`). Every key
 * has a default; without `endpoint` the scanner is inactive.
 */
export const ClamavConfigSchema = Type.Object({
  /** `tcp://host:port` or a socket path; unset = scanner inactive. */
  endpoint: Type.Optional(Type.String({ minLength: 1 })),
  stages: stageList(['data']),
  /** Must not exceed clamd's StreamMaxLength; larger messages are reported unscanned (too large), never clean. */
  maxStreamBytes: Type.Integer({ minimum: 1, default: 26_214_400 }),
  chunkBytes: Type.Integer({ minimum: 1024, maximum: 4_194_304, default: 65_536 }),
  /**
   * Scans share connections kept open between them (clamd sessions, IDSESSION): no connect per scan. Idle ones are
   * closed after 10 s, within clamd's IdleTimeout (30 s by default). false = one connection per scan.
   */
  reuseConnections: Type.Boolean({ default: true }),
  /** What a virus asks for. */
  action: literals(['reject', 'quarantine', 'discard'] as const, { default: 'reject' }),
  /** Reply on reject (5xx); `{virus}` in the text is replaced by the signature name. */
  reply: replySchema(550, '5.7.1', 'Virus found: {virus}'),
  /** Added to clean mail; `null` adds nothing. */
  header: headerSchema('X-Virus-Scanned', 'hookgate (ClamAV)'),
});

/** The ClamAV scanner's config with defaults applied. */
export type ClamavConfig = Static<typeof ClamavConfigSchema>;
