/**
 * Turns an inspection report into a scan outcome for one traffic direction: enforce (reject or quarantine) the
 * hits at or above the direction's minimum severity, report the rest in an advisory header.
 */
import type { Modification, ScanOutcome, UnscannedReason } from '@hookgate/contracts';
import { severityRank, type DlpScannerConfig } from './config.js';
import type { DlpReport } from './engine.js';
import type { NotInspected } from './mime/classify.js';

/** Traffic direction: outbound when the sender authenticated (`request.auth`). */
export type Direction = 'outbound' | 'inbound';

/** `not-inspected:<type>` names, one per type. */
export function notInspectedSymbols(items: readonly NotInspected[]): string[] {
  return [...new Set(items.map((n) => `not-inspected:${n.type}`))];
}

/** `{rules}` in the reply: `rule pci.card` or `rules pci.card, iban` (shortened to stay one short line). */
function rulesPhrase(ids: readonly string[]): string {
  const shown = ids.slice(0, 5).join(', ');
  const more = ids.length > 5 ? ` and ${ids.length - 5} more` : '';
  return `${ids.length === 1 ? 'rule' : 'rules'} ${shown}${more}`;
}

function unscannedReason(items: readonly NotInspected[]): UnscannedReason {
  if (items.some((n) => n.reason === 'encrypted')) return 'encrypted';
  if (items.some((n) => n.reason === 'too-large')) return 'too-large';
  return 'unsupported';
}

/** The scan outcome for `report` under `config`, for mail travelling in `direction`. */
export function decideOutcome(
  report: DlpReport,
  direction: Direction,
  config: DlpScannerConfig,
): ScanOutcome {
  const mode = config.enforce[direction];
  const symbols = notInspectedSymbols(report.notInspected);
  if (report.findings.length === 0) {
    if (symbols.length > 0 && config.notInspected === 'unscanned') {
      return {
        status: 'unscanned',
        reason: unscannedReason(report.notInspected),
        detail: `not inspected: ${symbols.map((s) => s.slice(14)).join(', ')}`,
      };
    }
    return symbols.length > 0 ? { status: 'pass', symbols } : { status: 'pass' };
  }
  const headerMods: Modification[] = config.header
    ? [
        {
          type: 'addHeader',
          name: config.header.name,
          value: report.findings.map((f) => `${f.rule}=${f.count}`).join(', '),
        },
      ]
    : [];
  const minRank = severityRank(config.enforce.minSeverity[direction]);
  const enforced = report.findings.filter((f) => severityRank(f.severity) >= minRank).map((f) => f.rule);
  if (enforced.length > 0 && mode === 'reject') {
    const { text, ...reply } = config.reply;
    return {
      status: 'fail',
      category: 'dlp',
      action: 'reject',
      names: enforced,
      reply: { ...reply, text: text.replaceAll('{rules}', rulesPhrase(enforced)) },
    };
  }
  if (enforced.length > 0 && mode === 'quarantine') {
    return {
      status: 'fail',
      category: 'dlp',
      action: 'quarantine',
      names: enforced,
      ...(headerMods.length ? { modifications: headerMods } : {}),
    };
  }
  return {
    status: 'pass',
    ...(headerMods.length ? { modifications: headerMods } : {}),
    ...(symbols.length ? { symbols } : {}),
  };
}
