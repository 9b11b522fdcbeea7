export { buildApp, type IngressDeps } from './app.js';
export { type OperatorDeps, type PoolState } from './routes/operator.js';
export { authenticate, type AuthConfig, type AuthResult } from './plugins/auth.js';
export { fromStalwart, toStalwart, reconstructMessage, stalwartSessionId, type StalwartSettings } from './adapters/stalwart.js';
export { responseEncoding } from './plugins/encoding.js';
export {
  discoveryDocument,
  negotiate,
  checkFilter,
  fromDraft01,
  toDraft01,
  writablePaths,
  filterOps,
  parseHeaderSection,
  rebuildRaw,
  type Draft01Settings,
  type Draft01Answer,
  type RequestView,
} from './adapters/draft01.js';
export { draft01Routes, Draft01Error, type Draft01Deps } from './routes/draft01.js';
export { decodeCbor, encodeCbor, CBOR_TYPE } from './plugins/cbor.js';
export { authenticateRequest, certificateIdentity, type ClientCertIdentity } from './plugins/client-identity.js';
export {
  ConnectionGuard,
  ConnectionLimitsSchema,
  resolveConnectionLimits,
  CHECK_INTERVAL_MS,
  type ConnectionLimits,
  type ConnectionLimitsConfig,
  type GuardCounters,
} from './connections/connection-guard.js';
export { openFileLimit, connectionBudget } from './connections/file-limit.js';
export { jsonNestsDeeper, msgpackNestsDeeper, MAX_NESTING } from './plugins/nesting.js';
