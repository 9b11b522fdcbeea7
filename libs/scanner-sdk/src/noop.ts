import type { Stage } from '@hookgate/contracts';
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
