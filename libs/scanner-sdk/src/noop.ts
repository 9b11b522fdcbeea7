import { Type } from '@sinclair/typebox';
import { stageList, type Stage } from '@hookgate/contracts';
import { defineScanner } from './registration.js';
import type { Scanner } from './scanner.js';

/**
 * A scanner that passes everything without I/O. It measures hookgate's own cost in the benchmark and stands in
 * for a real engine in pipeline tests.
 */
export function noopScanner(options: { id?: string; stages?: readonly Stage[] } = {}): Scanner {
  return {
    id: options.id ?? 'noop',
    kind: 'test',
    stages: options.stages ?? ['connect', 'ehlo', 'mail', 'rcpt', 'data'],
    scan: () => Promise.resolve({ status: 'pass' }),
    describe: () => 'no-op (passes everything)',
  };
}

/** `scanners.noop`: off unless enabled (benchmarks). */
export const NoopConfigSchema = Type.Object({
  enabled: Type.Boolean({ default: false }),
  stages: stageList(['connect', 'ehlo', 'mail', 'rcpt', 'data']),
});

/** The noop scanner as a host registers it: queued like a real engine, but never given a pool of its own in deployments. */
export const noopRegistration = defineScanner({
  id: 'noop',
  placement: 'queue',
  pool: false,
  schema: NoopConfigSchema,
  required: false,
  status: (c) => ({
    active: c.enabled,
    why: c.enabled ? 'enabled (passes everything; for benchmarks)' : 'disabled',
  }),
  create: (c) => noopScanner({ stages: c.stages }),
});
