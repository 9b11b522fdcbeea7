export {
  TransactionStore,
  type StoreOptions,
  type ResultNotice,
  type StoredRequest,
  type StageLogEntry,
  type RecordOutcome,
} from './store.js';
export { StoreKeys } from './keys.js';
export { feedSummary, type FeedEntry, type FeedScanner } from './feed.js';
export { subscribeResults } from './subscriber.js';
export { PoolRegistry, subscribePoolEvents, type PoolCounts } from './pools.js';
export { ResultCache } from './cache.js';
export {
  RegistrationStore,
  Draft01Keys,
  identityDigest,
  type RegistrationStoreOptions,
  type RegistrationState,
  type RegistrationStats,
} from './registrations.js';
export { DedupeStore, type DedupeOptions, type StoredAnswer, type ClaimResult } from './dedupe.js';
