/**
 * Operator tools on the ingress (issue 16): the quarantine API, the recent-verdicts feed, lookups by queue id and
 * the scanner pools under /admin (admin tokens only, like every /admin route), and the console's static files.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ERR, ERRORS } from '@hookgate/contracts';
import type { FeedEntry, TransactionStore } from '@hookgate/state-store';
import type { ListFilter, Quarantine } from '@hookgate/quarantine';
import { HttpError } from '../errors.js';
import { transactionView } from './admin.js';

/** One scanner as the pools page shows it; rates come from the recent-verdicts feed. */
export interface PoolState {
  id: string;
  /** `queue`: a worker pool behind a BullMQ queue; `inline`: runs in the ingress. */
  placement: 'queue' | 'inline';
  stages: readonly string[];
  required: boolean;
  /** Live worker processes (queued scanners only). */
  workers?: number;
  /** Jobs waiting in its queue (queued scanners only). */
  queueDepth?: number;
}

export interface OperatorDeps {
  store: TransactionStore;
  quarantine?: Quarantine;
  /** The active scanners with live workers and queue depth, read when the pools page asks. */
  pools?: () => Promise<PoolState[]>;
  /** Serve the console under this path (e.g. `/console`); absent = no console. */
  consolePath?: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without credentials (the console's static files: they hold no data). */
    public?: boolean;
  }
}

/** Epoch ms or an ISO 8601 date; undefined when absent; 400 when unreadable. */
function time(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = /^\d{1,15}$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(n))
    throw new HttpError(ERRORS.REQUEST_INVALID, `${name} must be epoch milliseconds or an ISO 8601 date`);
  return n;
}

const STATUSES = ['held', 'releasing', 'released', 'deleted', 'any'] as const;

export function operatorRoutes(app: FastifyInstance, deps: OperatorDeps): void {
  const { store, quarantine } = deps;

  app.get('/admin/whoami', async (req) => ({ identity: req.mtaIdentity }));

  app.get<{ Querystring: { after?: string; count?: string } }>('/admin/verdicts', async (req) => {
    const { after, count } = req.query;
    if (after !== undefined && !/^\d{1,16}-\d{1,10}$/.test(after))
      throw new HttpError(ERRORS.REQUEST_INVALID, 'after must be a feed entry id (<ms>-<seq>)');
    const n = count === undefined ? 100 : Number(count);
    if (!Number.isInteger(n) || n < 1 || n > 1000)
      throw new HttpError(ERRORS.REQUEST_INVALID, 'count must be an integer from 1 to 1000');
    return { entries: await store.recentVerdicts({ ...(after ? { after } : {}), count: n }) };
  });

  app.get<{ Querystring: { queueId?: string } }>('/admin/transactions', async (req) => {
    const queueId = req.query.queueId;
    if (!queueId || queueId.length > 128 || /[\s\0]/.test(queueId))
      throw new HttpError(ERRORS.REQUEST_INVALID, 'give queueId (the MTA queue id, up to 128 characters)');
    const txnId = await store.transactionOfQueueId(queueId);
    if (!txnId)
      throw new HttpError(
        ERRORS.NOT_FOUND,
        `no transaction seen with queue id ${queueId} (unknown, or expired from Redis)`,
      );
    return { queueId, ...(await transactionView(store, txnId)) };
  });

  app.get('/admin/pools', async () => {
    const [pools, recent] = await Promise.all([
      deps.pools?.() ?? Promise.resolve([]),
      store.recentVerdicts({ count: 1000 }),
    ]);
    return {
      window: windowOf(recent),
      scanners: pools.map((p) => ({ ...p, recent: ratesOf(p.id, recent) })),
    };
  });

  if (quarantine) quarantineRoutes(app, quarantine);
  if (deps.consolePath) consoleRoutes(app, deps.consolePath);
}

function quarantineRoutes(app: FastifyInstance, q: Quarantine): void {
  app.get<{ Querystring: Record<string, string | undefined> }>('/admin/quarantine', async (req) => {
    const x = req.query;
    const status = x.status ?? 'held';
    if (!(STATUSES as readonly string[]).includes(status))
      throw new HttpError(ERRORS.REQUEST_INVALID, `status must be one of ${STATUSES.join(', ')}`);
    const limit = x.limit === undefined ? undefined : Number(x.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 500))
      throw new HttpError(ERRORS.REQUEST_INVALID, 'limit must be an integer from 1 to 500');
    if (x.cursor !== undefined && !/^\d{1,15}\.[0-9a-z]{19}$/.test(x.cursor))
      throw new HttpError(ERRORS.REQUEST_INVALID, 'cursor must be a `next` value from a previous page');
    const since = time(x.since, 'since');
    const until = time(x.until, 'until');
    const filter: ListFilter = {
      status: status as ListFilter['status'],
      ...(x.recipient ? { recipient: x.recipient } : {}),
      ...(x.sender ? { sender: x.sender } : {}),
      ...(x.reason ? { reason: x.reason } : {}),
      ...(since !== undefined ? { since } : {}),
      ...(until !== undefined ? { until } : {}),
      ...(limit !== undefined ? { limit } : {}),
      ...(x.cursor ? { cursor: x.cursor } : {}),
    };
    const [page, usage] = await Promise.all([q.list(filter), q.usage()]);
    return { ...page, usage, store: q.store.kind, relay: q.relayTarget ?? null };
  });

  app.get<{ Params: { id: string }; Querystring: { body?: string } }>(
    '/admin/quarantine/:id',
    async (req) => {
      const body = req.query.body === '1' || req.query.body === 'true';
      return q.show(req.params.id, req.mtaIdentity, body);
    },
  );

  app.post<{ Params: { id: string } }>('/admin/quarantine/:id/release', async (req) => {
    const r = await q.release(req.params.id, req.mtaIdentity);
    req.log.info(
      { quarantineId: r.id, admin: req.mtaIdentity, relay: r.relay, refused: r.refused.length },
      'quarantine release',
    );
    return r;
  });

  app.delete<{ Params: { id: string } }>('/admin/quarantine/:id', async (req) => {
    const r = await q.delete(req.params.id, req.mtaIdentity);
    req.log.info({ quarantineId: r.id, admin: req.mtaIdentity }, 'quarantine delete');
    return r;
  });

  app.get<{ Querystring: { limit?: string } }>('/admin/audit', async (req) => {
    const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new HttpError(ERRORS.REQUEST_INVALID, 'limit must be an integer from 1 to 1000');
    return { entries: await q.audit(limit) };
  });
}

/** The time span the rates cover. */
function windowOf(recent: readonly FeedEntry[]): { entries: number; since?: number } {
  const oldest = recent[recent.length - 1];
  return { entries: recent.length, ...(oldest ? { since: oldest.at } : {}) };
}

/** Results, error and timeout rates and durations of one scanner over the recent verdicts. */
function ratesOf(scanner: string, recent: readonly FeedEntry[]) {
  const ms: number[] = [];
  let errors = 0;
  let timeouts = 0;
  let missing = 0;
  for (const e of recent) {
    const r = e.scanners.find((s) => s.id === scanner);
    if (!r) {
      if (e.reasons.some((x) => x.startsWith(`${scanner}:missing`))) missing++;
      continue;
    }
    ms.push(r.ms);
    if (r.status === 'error') {
      if (r.code === ERR.SCAN_TIMEOUT) timeouts++;
      else errors++;
    }
  }
  const n = ms.length;
  ms.sort((a, b) => a - b);
  const rate = (k: number) => (n + missing > 0 ? k / (n + missing) : 0);
  return {
    results: n,
    missing,
    errors,
    timeouts,
    errorRate: rate(errors),
    timeoutRate: rate(timeouts + missing),
    ...(n > 0
      ? { p50Ms: ms[Math.floor((n - 1) / 2)]!, p95Ms: ms[Math.floor((n - 1) * 0.95)]!, maxMs: ms[n - 1]! }
      : {}),
  };
}

const CONSOLE_FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

/** The console's CSP: its own files only, no inline script, never framed. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Plain static files read once at startup from the package's console/ folder (no build step, nothing fetched). */
function consoleRoutes(app: FastifyInstance, path: string): void {
  const dir = new URL('../../console/', import.meta.url);
  const files = new Map(
    Object.entries(CONSOLE_FILES).map(([name, type]) => [
      name,
      { type, body: readFileSync(new URL(name, dir)) },
    ]),
  );
  const send = (name: string) => async (_req: unknown, reply: FastifyReply) => {
    const f = files.get(name);
    if (!f) throw new HttpError(ERRORS.NOT_FOUND, 'no such console file');
    return reply
      .header('content-type', f.type)
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache')
      .send(f.body);
  };
  const config = { public: true };
  app.get(path, { config }, async (_req, reply) => reply.redirect(`${path}/`));
  app.get(`${path}/`, { config }, send('index.html'));
  app.get<{ Params: { file: string } }>(`${path}/:file`, { config }, (req, reply) =>
    send(req.params.file)(req, reply),
  );
}
