export { buildApp, type IngressDeps } from './app.js';
export { type OperatorDeps, type PoolState } from './routes/operator.js';
export { authenticate, type AuthConfig, type AuthResult } from './plugins/auth.js';
export {
  fromStalwart,
  toStalwart,
  reconstructMessage,
  stalwartSessionId,
  type StalwartSettings,
} from './adapters/stalwart.js';
export { responseEncoding } from './plugins/encoding.js';
export { type Draft01Settings } from './adapters/draft01/settings.js';
export { discoveryDocument, negotiate, writablePaths } from './adapters/draft01/negotiation.js';
export { checkFilter } from './adapters/draft01/filters.js';
export { fromDraft01, type RequestView } from './adapters/draft01/request.js';
export { toDraft01, type Draft01Answer } from './adapters/draft01/answers.js';
export { filterOps } from './adapters/draft01/operations.js';
export { parseHeaderSection } from './adapters/draft01/headers.js';
export { rebuildRaw } from './adapters/draft01/modifications.js';
export { draft01Routes, type Draft01Deps } from './routes/draft01.js';
export { HttpError, toHttpError } from './errors.js';
export { decodeCbor, encodeCbor, CBOR_TYPE } from './plugins/cbor.js';
export {
  authenticateRequest,
  certificateIdentity,
  type ClientCertIdentity,
} from './plugins/client-identity.js';
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
