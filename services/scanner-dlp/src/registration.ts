import { Type } from '@sinclair/typebox';
import { defineScanner } from '@hookgate/scanner-sdk';
import { DlpConfigSchema } from './config.js';
import { dlpScanner } from './scanner.js';
import { validateDlpRules } from './validate.js';

/** `scanners.dlp`: the DLP config, on by default. */
export const DlpScannerSettingsSchema = Type.Object({
  enabled: Type.Boolean({ default: true }),
  ...DlpConfigSchema.properties,
});

/** DLP as hookgate registers it: built in, queued, optional; operator rules are checked when the config loads. */
export const dlpRegistration = defineScanner({
  id: 'dlp',
  placement: 'queue',
  schema: DlpScannerSettingsSchema,
  required: false,
  status: ({ enabled, ...dlp }) =>
    enabled
      ? {
          active: true,
          why: `built in (enforce outbound: ${dlp.enforce.outbound}, inbound: ${dlp.enforce.inbound}; ${dlp.rules.length} operator rules)`,
        }
      : { active: false, why: 'disabled (scanners.dlp.enabled: false)' },
  check: (c, path) => validateDlpRules(c, path),
  cacheIdentity: ({ enabled: _enabled, ...dlp }) => dlp,
  create: ({ enabled: _enabled, ...dlp }) => dlpScanner(dlp),
});
