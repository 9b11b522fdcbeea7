/**
 * Span attribute names, in one place (after BullMQ's telemetry-attributes). All carry the `hookgate.` prefix.
 * None holds message content or full addresses; `SENDER_DOMAIN` is only set when `debug.spanAddresses` is on.
 */
export const ATTR = {
  PROTOCOL: 'hookgate.protocol',
  STAGE: 'hookgate.stage',
  REQ_ID: 'hookgate.req_id',
  TXN_ID: 'hookgate.txn_id',
  SCANNER: 'hookgate.scanner',
  SCANNERS: 'hookgate.scanners',
  OUTCOME: 'hookgate.outcome',
  ACTION: 'hookgate.action',
  PARTIAL: 'hookgate.partial',
  DECIDED_BY: 'hookgate.decided_by',
  POLICY: 'hookgate.policy',
  RULE: 'hookgate.rule',
  CACHED: 'hookgate.cached',
  QUEUE: 'hookgate.queue',
  QUEUE_WAIT_MS: 'hookgate.queue_wait_ms',
  DEADLINE_MS: 'hookgate.deadline_ms',
  MESSAGE_BYTES: 'hookgate.message_bytes',
  REGISTRATION_ID: 'hookgate.registration_id',
  ERROR_CODE: 'hookgate.error_code',
  SENDER_DOMAIN: 'hookgate.sender_domain',
} as const;

/** Span names. */
export const SPAN = {
  REQUEST: 'hookgate.request',
  STAGE: 'hookgate.stage',
  STORE_BEGIN: 'hookgate.store.begin_stage',
  STORE_LOAD: 'hookgate.store.load',
  STORE_RECORD: 'hookgate.store.record_result',
  STORE_FINALIZE: 'hookgate.store.finalize',
  FANOUT: 'hookgate.fanout',
  JOB: 'hookgate.scan.job',
  SCAN: 'hookgate.scan.engine',
  INLINE: 'hookgate.check',
  DECIDE: 'hookgate.decide',
} as const;
