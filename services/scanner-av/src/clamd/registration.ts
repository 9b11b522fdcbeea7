import { defineScanner } from '@hookgate/scanner-sdk';
import { ClamavConfigSchema } from './config.js';
import { clamavScanner } from './scanner.js';

/** ClamAV as hookgate registers it: queued, required (a virus scan that fails is fail-closed), on when a clamd is set. */
export const clamavRegistration = defineScanner({
  id: 'clamav',
  placement: 'queue',
  schema: ClamavConfigSchema,
  required: true,
  env: { HOOKGATE_CLAMD: { key: 'endpoint' } },
  status: (c) =>
    c.endpoint !== undefined
      ? { active: true, why: `clamd at ${c.endpoint}` }
      : { active: false, why: 'no engine configured (set HOOKGATE_CLAMD or scanners.clamav.endpoint)' },
  check: (c, path) =>
    Math.floor(c.reply.code / 100) !== 5 ? [{ path: `${path}.reply.code`, reason: 'must be 5xx' }] : [],
  create: (c) =>
    clamavScanner({
      endpoint: c.endpoint!,
      stages: c.stages,
      maxStreamBytes: c.maxStreamBytes,
      chunkBytes: c.chunkBytes,
      reuseConnections: c.reuseConnections,
      action: c.action,
      reply: c.reply,
      header: c.header,
    }),
});
