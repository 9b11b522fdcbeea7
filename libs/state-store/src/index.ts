export { TransactionStore, type StoreOptions, type ResultNotice, type StoredRequest, type StageLogEntry } from './store.js';
export { StoreKeys } from './keys.js';
export { subscribeResults } from './subscriber.js';
export { ResultCache } from './cache.js';
