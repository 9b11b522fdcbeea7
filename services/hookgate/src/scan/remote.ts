/**
 * `hookgate scan --url`: each message goes to a running hookgate's Stalwart endpoint as a data-stage request, with
 * the credentials the MTAs use (the first of auth.tokens, else of auth.basic). With an admin token configured, the
 * verdict record is read back (reasons, scanner timings); without one, only the answer is known.
 */
import { randomInt } from 'node:crypto';
import { errorMessage, type Action, type VerdictRecord } from '@hookgate/contracts';
import type { HookgateConfig } from '../config.js';
import type { ScannedMessage } from './report.js';
import { envelopeOf, splitMessage } from './envelope.js';

export interface RemoteOptions {
  url: string;
  config: HookgateConfig;
  /** Envelope overrides; by default From:, and To:/Cc: of each message. */
  from?: string;
  to?: string[];
  timeoutMs: number;
}

function credentials(config: HookgateConfig): Record<string, string> {
  const token = config.auth.tokens[0];
  if (token) return { authorization: `Bearer ${token.token}` };
  const basic = config.auth.basic[0];
  if (basic)
    return { authorization: `Basic ${Buffer.from(`${basic.username}:${basic.secret}`).toString('base64')}` };
  return {};
}

/** The action a Stalwart answer stands for. */
function actionOf(body: { action?: string; response?: { status?: number; message?: string } }): {
  action: Action;
  reply?: string;
  quarantineId?: string;
} {
  const r = body.response;
  const reply = r?.status
    ? `${r.status} ${(r as { enhanced_status?: string }).enhanced_status ?? ''} ${r.message ?? ''}`
        .replace(/\s+/g, ' ')
        .trim()
    : undefined;
  const quarantineId = /quarantined as ([0-9a-z]{19})/.exec(r?.message ?? '')?.[1];
  switch (body.action) {
    case 'accept':
      return { action: 'accept' };
    case 'discard':
      return { action: 'discard' };
    case 'quarantine':
      return { action: 'quarantine' };
    case 'reject':
      if (quarantineId) return { action: 'quarantine', ...(reply ? { reply } : {}), quarantineId };
      return { action: (r?.status ?? 550) < 500 ? 'tempfail' : 'reject', ...(reply ? { reply } : {}) };
    case undefined:
    default:
      throw new Error(`unexpected answer ${JSON.stringify(body).slice(0, 200)}`);
  }
}

export function remoteScanner(o: RemoteOptions): (label: string, bytes: Buffer) => Promise<ScannedMessage> {
  const base = o.url.replace(/\/+$/, '');
  const auth = credentials(o.config);
  const admin = o.config.admin.tokens[0];
  return async (label, bytes) => {
    const started = Date.now();
    const { headers, body } = splitMessage(bytes);
    const { from, to } = envelopeOf(headers, {
      ...(o.from !== undefined ? { from: o.from } : {}),
      ...(o.to ? { to: o.to } : {}),
    });
    // A client port of its own per message: each is its own session, never mixed with another.
    const request = {
      context: {
        stage: 'data',
        client: { ip: '127.0.0.1', port: randomInt(1024, 65535), ptr: null, helo: 'hookgate-scan' },
        server: { name: 'hookgate-scan', ip: '127.0.0.1', port: randomInt(1, 65535) },
        queue: { id: `scan-${started.toString(36)}-${randomInt(1e9).toString(36)}` },
        protocol: { version: 1 },
      },
      envelope: { from: { address: from }, to: to.map((address) => ({ address })) },
      message: { headers, contents: body, size: bytes.byteLength },
    };
    let res: Response;
    try {
      res = await fetch(`${base}/hooks/stalwart`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth },
        body: JSON.stringify(request),
        signal: AbortSignal.timeout(o.timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      return {
        label,
        reasons: [],
        scanners: [],
        durationMs: Date.now() - started,
        error: `cannot reach ${base}: ${cause ?? (err as Error).message}`,
      };
    }
    const text = await res.text();
    if (res.status !== 200) {
      let why = text.slice(0, 200);
      try {
        why = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? why;
      } catch {
        // not JSON
      }
      return {
        label,
        reasons: [],
        scanners: [],
        durationMs: Date.now() - started,
        error: `HTTP ${res.status}: ${why}${res.status === 401 ? ' (set HOOKGATE_AUTH_TOKENS or HOOKGATE_AUTH_BASIC as for the ingress)' : ''}`,
      };
    }
    let answer;
    try {
      answer = actionOf(JSON.parse(text) as Parameters<typeof actionOf>[0]);
    } catch (err) {
      return { label, reasons: [], scanners: [], durationMs: Date.now() - started, error: errorMessage(err) };
    }
    const txnId = res.headers.get('x-hookgate-transaction-id') ?? undefined;
    const reqId = res.headers.get('x-hookgate-request-id') ?? undefined;
    const result: ScannedMessage = {
      label,
      ...answer,
      reasons: [],
      scanners: [],
      durationMs: Date.now() - started,
      ...(txnId ? { txnId } : {}),
    };
    const reasonHeader = res.headers.get('x-hookgate-reason');
    if (reasonHeader)
      result.reasons = /reasons=([^;]*)/.exec(reasonHeader)?.[1]?.split(',').filter(Boolean) ?? [];
    if (admin && txnId) {
      const record = await verdictRecord(base, admin.token, txnId, reqId).catch(() => undefined);
      if (record) {
        result.action = record.verdict.action;
        result.reasons = record.verdict.reasons;
        result.scanners = record.results.map((r) => ({
          id: r.scanner,
          status: r.outcome.status,
          ms: r.durationMs,
        }));
        if (record.verdict.quarantine) result.quarantineId = record.verdict.quarantine.id;
      }
    }
    return result;
  };
}

/** The data stage's verdict record through the admin API (it is stored just after the answer: retried briefly). */
async function verdictRecord(
  base: string,
  token: string,
  txnId: string,
  reqId: string | undefined,
): Promise<VerdictRecord | undefined> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const res = await fetch(`${base}/admin/transactions/${encodeURIComponent(txnId)}`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(5000),
    });
    if (res.status === 200) {
      const t = (await res.json()) as { stages: { reqId: string; record: VerdictRecord | null }[] };
      const stage = t.stages.find((s) => s.reqId === reqId) ?? t.stages[t.stages.length - 1];
      if (stage?.record) return stage.record;
    } else if (res.status !== 404) return undefined;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}
