import type { ScanOutcome } from '@hookgate/contracts';
import { tooLarge, type Scanner, type ScanInput } from '@hookgate/scanner-sdk';
import type { DlpScannerConfig } from './config.js';
import { DlpEngine } from './engine.js';
import { decideOutcome, type Direction } from './policy.js';

function directionOf(input: ScanInput): Direction {
  return input.request.auth ? 'outbound' : 'inbound';
}

/**
 * The built-in DLP scanner (`id: 'dlp'`, `kind: 'dlp'`): no external daemon, the engine runs in the worker.
 * Outbound (authenticated) mail is enforced and inbound mail gets an advisory header by default. Throws
 * (`HOOKGATE_ERR_CONFIG_INVALID`) when an operator rule is invalid; engine failures during a scan are thrown
 * for the runtime to record as an error outcome.
 */
export function dlpScanner(config: DlpScannerConfig): Scanner {
  const engine = new DlpEngine(config);
  const operatorRules = config.rules.filter((r) => r.enabled).length;
  return {
    id: 'dlp',
    kind: 'dlp',
    stages: config.stages,
    describe: () =>
      `built-in DLP (${engine.ruleIds.length - operatorRules} detectors, ${operatorRules} operator rules)`,
    shouldScan(input) {
      if (!input.message) return 'no message at this stage';
      const direction = directionOf(input);
      return config.enforce[direction] === 'off' ? `DLP is off for ${direction} mail` : null;
    },
    async scan(input, ctx): Promise<ScanOutcome> {
      const bytes = input.message;
      if (!bytes) return { status: 'skip', reason: 'no message at this stage' };
      const over = tooLarge(bytes, config.limits.maxMessageBytes, 'maxMessageBytes');
      if (over) return over;
      const report = await engine.inspectMessage(bytes, { signal: ctx.signal });
      const direction = directionOf(input);
      // Rule ids, counts and types only: never matched text (style §4.6).
      ctx.log.debug(
        {
          direction,
          findings: report.findings.map((f) => `${f.rule}=${f.count}`),
          notInspected: report.notInspected.map((n) => `${n.type}:${n.reason}`),
          textChars: report.textChars,
          parts: report.parts,
        },
        'dlp inspection done',
      );
      return decideOutcome(report, direction, config);
    },
  };
}
