export {
  STAGES,
  LEGACY_STAGES,
  ACTIONS,
  PROTOCOLS,
  type Stage,
  type Action,
  type Protocol,
  type SmtpReply,
  type EnvelopeAddress,
  type ClientInfo,
  type ServerInfo,
  type Modification,
  type MessageInfo,
  type StageRequest,
} from './model.js';
export {
  SCAN_KINDS,
  UNSCANNED_REASONS,
  type ScanKind,
  type ScanOutcome,
  type UnscannedReason,
  type ScanResult,
  type Verdict,
  type VerdictRecord,
} from './results.js';
export { scanQueueName, scanJobId, type ScanJob } from './jobs.js';
export { HookgateError, ERR, errorCode, type ErrorCode } from './errors.js';
export {
  StalwartAddress,
  StalwartRequest,
  type StalwartAction,
  type StalwartReply,
  type StalwartModification,
  type StalwartResponse,
} from './stalwart.js';
export {
  FAILURE_ACTIONS,
  UNSCANNED_ACTIONS,
  DEFAULT_SEVERITY,
  type FailureAction,
  type UnscannedAction,
  type ScannerPolicy,
  type ScannerOverride,
  type SpamPolicy,
  type StampPolicy,
  type PolicyBank,
  type PolicyMatch,
  type PolicyRule,
} from './policy.js';
