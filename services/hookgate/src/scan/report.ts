/**
 * What `hookgate scan` prints: a progress bar on a terminal (refused and failed messages still get their line), one
 * line per message otherwise, then a summary; or one JSON document with `--json`. Exit codes: 0 every message was
 * accepted, 1 at least one was refused (reject, tempfail, discard or quarantine), 2 at least one could not be
 * scanned (unreadable input, hookgate unreachable).
 */
import type { Action } from '@hookgate/contracts';

export interface ScannedMessage {
  label: string;
  /** Absent when the message could not be scanned (`error`). */
  action?: Action;
  reply?: string;
  reasons: string[];
  scanners: { id: string; status: string; ms: number }[];
  durationMs: number;
  txnId?: string;
  quarantineId?: string;
  error?: string;
}

export interface Summary {
  messages: number;
  byAction: Partial<Record<Action, number>>;
  byReason: Record<string, number>;
  errors: number;
  skippedFiles: number;
  elapsedMs: number;
  /** Slowest first, by p95. */
  scanners: { id: string; results: number; p50Ms: number; p95Ms: number; maxMs: number }[];
}

export interface Output {
  write(text: string): void;
  isTTY?: boolean;
  columns?: number;
}

export function exitCode(s: Summary): number {
  if (s.errors > 0) return 2;
  const refused = Object.entries(s.byAction).some(([a, n]) => a !== 'accept' && (n ?? 0) > 0);
  return refused ? 1 : 0;
}

export function summarize(
  results: readonly ScannedMessage[],
  skippedFiles: number,
  elapsedMs: number,
): Summary {
  const byAction: Partial<Record<Action, number>> = {};
  const byReason: Record<string, number> = {};
  const durations = new Map<string, number[]>();
  let errors = 0;
  for (const r of results) {
    if (!r.action) {
      errors++;
      continue;
    }
    byAction[r.action] = (byAction[r.action] ?? 0) + 1;
    for (const reason of r.reasons) byReason[reason] = (byReason[reason] ?? 0) + 1;
    for (const s of r.scanners) durations.set(s.id, [...(durations.get(s.id) ?? []), s.ms]);
  }
  const scanners = [...durations.entries()]
    .map(([id, ms]) => {
      ms.sort((a, b) => a - b);
      const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor((ms.length - 1) * q))]!;
      return { id, results: ms.length, p50Ms: at(0.5), p95Ms: at(0.95), maxMs: ms[ms.length - 1]! };
    })
    .sort((a, b) => b.p95Ms - a.p95Ms || b.maxMs - a.maxMs);
  return { messages: results.length, byAction, byReason, errors, skippedFiles, elapsedMs, scanners };
}

/** One line per message: action, label, reply or error, reasons, time. */
export function line(r: ScannedMessage): string {
  if (!r.action) return `${'ERROR'.padEnd(10)} ${r.label}  ${r.error ?? 'failed'}`;
  const parts = [r.action.toUpperCase().padEnd(10), r.label];
  if (r.action !== 'accept' && r.reply) parts.push(` ${r.reply}`);
  if (r.reasons.length) parts.push(` [${r.reasons.join(', ')}]`);
  if (r.quarantineId) parts.push(` quarantine=${r.quarantineId}`);
  parts.push(` ${r.durationMs} ms`);
  return parts.join(' ');
}

export function summaryText(s: Summary): string {
  const out: string[] = [];
  out.push(
    `scanned ${s.messages} message${s.messages === 1 ? '' : 's'} in ${(s.elapsedMs / 1000).toFixed(1)} s${s.skippedFiles ? ` (${s.skippedFiles} file${s.skippedFiles === 1 ? '' : 's'} skipped: not .eml, .mbox or Maildir)` : ''}`,
  );
  const reasonsOf = (prefixes: string[]) =>
    Object.entries(s.byReason)
      .filter(([r]) => prefixes.length === 0 || prefixes.some((p) => r.startsWith(p)))
      .sort((a, b) => b[1] - a[1]);
  for (const [action, n] of Object.entries(s.byAction).sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0)))
    out.push(`  ${action.padEnd(11)}${String(n).padStart(6)}`);
  if (s.errors) out.push(`  ${'errors'.padEnd(11)}${String(s.errors).padStart(6)}`);
  const reasons = reasonsOf([]);
  if (reasons.length) {
    out.push('reasons:');
    for (const [r, n] of reasons.slice(0, 20)) out.push(`  ${String(n).padStart(6)}  ${r}`);
    if (reasons.length > 20) out.push(`  … and ${reasons.length - 20} more`);
  }
  if (s.scanners.length) {
    out.push('slowest scanners (p50 / p95 / max):');
    for (const x of s.scanners)
      out.push(`  ${x.id.padEnd(12)} ${x.p50Ms} / ${x.p95Ms} / ${x.maxMs} ms over ${x.results}`);
  }
  return `${out.join('\n')}\n`;
}

/** A one-line progress bar redrawn in place on a terminal. */
export class ProgressBar {
  #last = 0;
  #shown = false;
  constructor(
    private readonly out: Output,
    private readonly totalBytes: number,
  ) {}

  draw(state: { bytes: number; messages: number; refused: number; errors: number }, force = false): void {
    const now = Date.now();
    if (!force && now - this.#last < 100) return;
    this.#last = now;
    const width = Math.max(10, Math.min(40, (this.out.columns ?? 80) - 50));
    const frac = this.totalBytes > 0 ? Math.min(1, state.bytes / this.totalBytes) : 0;
    const filled = Math.round(frac * width);
    const bar =
      this.totalBytes > 0
        ? `[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${String(Math.round(frac * 100)).padStart(3)}%`
        : '[reading standard input]';
    this.out.write(
      `\r\x1b[2K${bar} ${state.messages} messages, ${state.refused} refused, ${state.errors} errors`,
    );
    this.#shown = true;
  }

  /** Clears the bar so a line can be printed above it. */
  clear(): void {
    if (this.#shown) this.out.write('\r\x1b[2K');
  }
}
