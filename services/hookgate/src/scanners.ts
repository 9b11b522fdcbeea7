/**
 * The scanner registry: which scanners the config activates, their routes for the ingress and their plugins for
 * workers. Ingress and workers read the same config, so they agree on what is expected at each stage.
 */
import type { ScannerPolicy, Stage } from '@hookgate/contracts';
import { noopScanner, type Scanner } from '@hookgate/scanner-sdk';
import { clamavScanner } from '@hookgate/scanner-av';
import type { ScannerRoute } from '@hookgate/pipeline';
import type { HookgateConfig } from './config.js';

export const SCANNER_IDS = ['clamav', 'noop'] as const;
export type ScannerId = (typeof SCANNER_IDS)[number];

export interface ScannerEntry {
  id: ScannerId;
  /** Inactive scanners are neither expected by the ingress nor hosted by workers. */
  active: boolean;
  /** Why it is (in)active, for the startup summary. */
  why: string;
  stages: readonly Stage[];
  policy: ScannerPolicy;
  concurrency: number;
  create: () => Scanner;
}

interface FailureSettings {
  required: boolean;
  onError?: ScannerPolicy['onError'] | undefined;
  onTimeout?: ScannerPolicy['onTimeout'] | undefined;
  onMissing?: ScannerPolicy['onMissing'] | undefined;
  onUnscanned?: ScannerPolicy['onUnscanned'] | undefined;
}

/** `required` picks the defaults: fail-closed (tempfail) or fail-open (accept); explicit settings win. */
export function scannerPolicy(id: string, s: FailureSettings): ScannerPolicy {
  const failure = s.required ? 'tempfail' : 'accept';
  return {
    id,
    required: s.required,
    onError: s.onError ?? failure,
    onTimeout: s.onTimeout ?? failure,
    onMissing: s.onMissing ?? failure,
    onUnscanned: s.onUnscanned ?? 'accept',
  };
}

export function scannerRegistry(config: HookgateConfig): ScannerEntry[] {
  const c = config.scanners.clamav;
  const n = config.scanners.noop;
  return [
    {
      id: 'clamav',
      active: c.endpoint !== undefined,
      why: c.endpoint !== undefined ? `clamd at ${c.endpoint}` : 'no engine configured (set HOOKGATE_CLAMD or scanners.clamav.endpoint)',
      stages: c.stages,
      policy: scannerPolicy('clamav', c),
      concurrency: c.concurrency,
      create: () =>
        clamavScanner({
          endpoint: c.endpoint!,
          stages: c.stages,
          maxStreamBytes: c.maxStreamBytes,
          chunkBytes: c.chunkBytes,
          action: c.action,
          reply: c.reply,
          header: c.header,
        }),
    },
    {
      id: 'noop',
      active: n.enabled,
      why: n.enabled ? 'enabled (passes everything; for benchmarks)' : 'disabled',
      stages: n.stages,
      policy: scannerPolicy('noop', n),
      concurrency: n.concurrency,
      create: () => noopScanner({ stages: n.stages }),
    },
  ];
}

export function routesOf(entries: readonly ScannerEntry[]): ScannerRoute[] {
  return entries.filter((e) => e.active).map((e) => ({ id: e.id, stages: e.stages, policy: e.policy }));
}
