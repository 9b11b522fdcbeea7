export {
  Quarantine,
  quarantineKeeper,
  type QuarantineOptions,
  type ItemView,
  type ReleaseResult,
  type KeeperOptions,
} from './quarantine.js';
export { RedisQuarantineStore, type RedisQuarantineOptions } from './redis-store.js';
export { FsQuarantineStore, type FsQuarantineOptions } from './fs-store.js';
export { smtpRelay, parseRelayUrl, type Relay, type RelayOptions, type Delivery } from './relay.js';
export { newId, isId, idTime } from './ids.js';
export { headerSection, parseHeaders } from './head.js';
export type {
  QuarantineStore,
  ItemMeta,
  ItemStatus,
  ItemOutcome,
  ItemSummary,
  StoredItem,
  AuditEntry,
  ListFilter,
  ListPage,
  ClaimResult,
  RemoveResult,
  Usage,
} from './types.js';
