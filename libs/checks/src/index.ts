export { greylistCheck, type GreylistConfig } from './greylist.js';
export {
  rateLimitCheck,
  LIMIT_KEYS,
  type RateLimit,
  type RateLimitConfig,
  type LimitKey,
} from './ratelimit.js';
export { clientNetwork } from './network.js';
export {
  greylistRegistration,
  rateLimitRegistration,
  GreylistConfigSchema,
  RateLimitConfigSchema,
  type InlineHost,
} from './registrations.js';
