import { defineScanner } from '@hookgate/scanner-sdk';
import { SpamdConfigSchema } from './config.js';
import { spamdScanner } from './scanner.js';

/** SpamAssassin as hookgate registers it: queued, optional (fail-open), on when a spamd endpoint is set. */
export const spamdRegistration = defineScanner({
  id: 'spamd',
  placement: 'queue',
  schema: SpamdConfigSchema,
  required: false,
  env: { HOOKGATE_SPAMD: { key: 'endpoint' } },
  status: (c) =>
    c.endpoint !== undefined
      ? { active: true, why: `spamd at ${c.endpoint}` }
      : { active: false, why: 'no engine configured (set HOOKGATE_SPAMD or scanners.spamd.endpoint)' },
  create: (c) => spamdScanner({ ...c, endpoint: c.endpoint! }),
});
