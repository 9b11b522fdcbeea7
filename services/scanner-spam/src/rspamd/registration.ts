import { defineScanner } from '@hookgate/scanner-sdk';
import { RspamdConfigSchema } from './config.js';
import { rspamdScanner } from './scanner.js';

/** Rspamd as hookgate registers it: queued, optional (fail-open), on when a URL is set. */
export const rspamdRegistration = defineScanner({
  id: 'rspamd',
  placement: 'queue',
  schema: RspamdConfigSchema,
  required: false,
  env: { HOOKGATE_RSPAMD_URL: { key: 'url' }, HOOKGATE_RSPAMD_PASSWORD: { key: 'password', file: true } },
  status: (c) =>
    c.url !== undefined
      ? { active: true, why: `rspamd at ${c.url}` }
      : { active: false, why: 'no engine configured (set HOOKGATE_RSPAMD_URL or scanners.rspamd.url)' },
  // The password does not change results, and a secret has no place in a cache key.
  cacheIdentity: (c) => ({ ...c, password: undefined }),
  create: (c) => rspamdScanner({ ...c, url: c.url! }),
});
