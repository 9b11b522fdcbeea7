import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyInstance, type FastifyBaseLogger } from 'fastify';
import { decode } from '@msgpack/msgpack';
import { ERRORS, errorCode, errorMessage } from '@hookgate/contracts';
import type { StagePipeline } from '@hookgate/pipeline';
import { authenticate, type AuthConfig } from './plugins/auth.js';
import { MSGPACK_TYPES, encodeBody, responseEncoding } from './plugins/encoding.js';
import { MAX_NESTING, msgpackNestsDeeper, registerJsonParser } from './plugins/nesting.js';
import { stalwartRoute } from './routes/stalwart.js';
import { adminRoutes } from './routes/admin.js';
import { operatorRoutes, type OperatorDeps } from './routes/operator.js';
import type { TransactionStore } from '@hookgate/state-store';
import { HttpError, toHttpError } from './errors.js';
import type { StalwartSettings } from './adapters/stalwart.js';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import { draft01Routes, type Draft01Deps } from './routes/draft01.js';
import { authenticateRequest, type ClientCertIdentity } from './plugins/client-identity.js';
import {
  CHECK_INTERVAL_MS,
  ConnectionGuard,
  resolveConnectionLimits,
  type ConnectionLimits,
} from './connections/connection-guard.js';
import { openFileLimit } from './connections/file-limit.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Connection limits of the listening server (counts for tests and diagnostics). */
    connectionGuard: ConnectionGuard;
  }
}

export interface IngressDeps {
  pipeline: StagePipeline;
  auth: AuthConfig;
  stalwart: StalwartSettings;
  /** Largest request body accepted, bytes (default 50 MiB, Stalwart's own response cap). */
  maxBodyBytes: number;
  logger: FastifyBaseLogger;
  /** Readiness as the lifecycle sees it. */
  isReady: () => boolean;
  /** Details /readyz adds to its status (live workers per scanner pool); they never change the status code. */
  readiness?: () => object;
  /** Admin API (`/admin/...`): its own Bearer tokens; disabled without tokens. */
  admin?: { tokens: { identity: string; token: string }[]; store: TransactionStore };
  /** Operator tools (issue 16): quarantine API, verdict feed, pools, console (routes/operator.ts). */
  operator?: OperatorDeps;
  /** Adds X-Hookgate-Reason to hook answers (debugging; content-free). */
  reasonHeader?: boolean;
  /** Serves Prometheus metrics on GET /metrics (unauthenticated, like the health endpoints). */
  metricsHandler?: (req: IncomingMessage, res: ServerResponse) => void;
  /** MTA Hooks draft-01 (discovery, registration, hooks); absent = not served. */
  draft01?: Draft01Deps;
  /** Serve HTTPS with these options (certificate, key, client CA for mutual TLS, minimum version). */
  https?: SecureContextOptions & TlsOptions;
  /** Client certificates that identify MTAs (mutual TLS), alone or together with tokens. */
  clientCerts?: ClientCertIdentity[];
  /** Timeouts and connection limits (default: the `limits.*` defaults, maxConnections from the open-file limit). */
  connections?: ConnectionLimits;
}

/** Routes that need no credentials. */
const PUBLIC_ROUTES = new Set(['/healthz', '/readyz', '/metrics', '/.well-known/mta-hooks']);

/** The ingress HTTP app, without listen(): tests use inject(). */
export function buildApp(deps: IngressDeps): FastifyInstance {
  const limits = deps.connections ?? resolveConnectionLimits({}, openFileLimit());
  // Node checks headersTimeout/requestTimeout only every connectionsCheckingInterval (30 s by default).
  const server = { headersTimeout: limits.headersTimeoutMs, connectionsCheckingInterval: CHECK_INTERVAL_MS };
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: deps.maxBodyBytes,
    // Ids in paths (draft-01 allows 255 characters) reach the routes, which answer 404 in the protocol's own body;
    // find-my-way's default 100 answered 414 with a body echoing the whole path. 16 KiB: Node's header limit.
    routerOptions: { maxParamLength: 16_384 },
    // One summary line per verdict comes from the pipeline; per-request lines would double it.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    // Stalwart sends one request per call; keep idle sockets short but longer than typical MTA reuse.
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    ajv: { customOptions: { allErrors: false, coerceTypes: false } },
    ...(deps.https
      ? { https: { ...deps.https, ...server, handshakeTimeout: limits.headersTimeoutMs } }
      : { http: server }),
  });
  const guard = new ConnectionGuard(app.server, limits, deps.logger);
  app.decorate('connectionGuard', guard);

  // While closing, answers in flight tell the client to drop the keep-alive connection, so close() does not wait
  // for idle sockets to time out.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (req, reply) => {
    // An answer given before the request body was read (401, 413, ...) ends the connection: the rest of the body
    // is drained, not parsed as a next request. A refused request never keeps its connection.
    const early = !req.raw.complete;
    if (closing || early || reply.statusCode === 401) void reply.header('connection', 'close');
    if (early) guard.lingerAfterResponse(req.raw.socket);
  });

  // `Expect: 100-continue` is answered only once the request may send its body (credentials checked, size within
  // the limit); otherwise the final answer comes instead and the body is never invited. Node would send the 100 at
  // once, before any hook ran.
  app.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) =>
    app.server.emit('request', req, res),
  );
  app.addHook('preParsing', async (req, reply, payload) => {
    if (
      /100-continue/i.test(req.headers.expect ?? '') &&
      !(Number(req.headers['content-length']) > req.routeOptions.bodyLimit)
    )
      reply.raw.writeContinue();
    return payload;
  });

  registerJsonParser(app);
  app.addContentTypeParser([...MSGPACK_TYPES], { parseAs: 'buffer' }, (_req, body: Buffer, done) => {
    if (msgpackNestsDeeper(body, MAX_NESTING))
      return done(
        new HttpError(ERRORS.REQUEST_INVALID, `body nests deeper than ${MAX_NESTING} levels`),
        undefined,
      );
    try {
      done(null, decode(body));
    } catch {
      done(new HttpError(ERRORS.REQUEST_INVALID, 'body is not valid MessagePack'), undefined);
    }
  });

  app.decorateRequest('mtaIdentity', 'anonymous');
  app.decorateRequest('receivedAt', 0);
  app.addHook('onRequest', async (req) => {
    req.receivedAt = Date.now();
    const route = req.routeOptions.url ?? '';
    if (PUBLIC_ROUTES.has(route) || req.routeOptions.config.public === true) return;
    // Admin routes take only admin tokens: an MTA credential must not read other transactions.
    const admin = route.startsWith('/admin/');
    const result = admin
      ? deps.admin?.tokens.length
        ? authenticate({ tokens: deps.admin.tokens, basic: [] }, req.headers.authorization)
        : { ok: false as const, reason: 'admin API disabled (no admin tokens)' }
      : authenticateRequest(deps.auth, deps.clientCerts ?? [], req.headers.authorization, req.raw.socket);
    if (!result.ok) {
      req.log.warn({ reason: result.reason, ip: req.ip }, 'authentication failed');
      throw new HttpError(ERRORS.AUTH_REQUIRED);
    }
    req.mtaIdentity = result.identity;
    guard.trust(req.raw.socket);
  });

  app.setErrorHandler((err, req, reply) => {
    const e = toHttpError(err);
    if (e.statusCode >= 500)
      req.log.error({ err: { code: errorCode(err), message: errorMessage(err) } }, 'request failed');
    if (e.statusCode === 401) void reply.header('www-authenticate', 'Basic realm="hookgate", Bearer');
    if (e.retryAfterSec) void reply.header('retry-after', String(e.retryAfterSec));
    const { encoding, type } = responseEncoding(req.headers['content-type'], req.headers.accept);
    return reply
      .code(e.statusCode)
      .type(type)
      .send(encodeBody({ error: { code: e.code, message: e.message } }, encoding));
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  if (deps.metricsHandler) {
    const handler = deps.metricsHandler;
    app.get('/metrics', (req, reply) => {
      reply.hijack();
      handler(req.raw, reply.raw);
    });
  }
  app.get('/readyz', async (_req, reply) => {
    const ready = deps.isReady();
    return reply
      .code(ready ? 200 : 503)
      .send({ status: ready ? 'ready' : 'not ready', ...deps.readiness?.() });
  });

  stalwartRoute(app, deps.pipeline, deps.stalwart, deps.reasonHeader ?? false);
  if (deps.admin) adminRoutes(app, deps.admin.store);
  if (deps.operator) operatorRoutes(app, deps.operator);
  if (deps.draft01) draft01Routes(app, deps.pipeline, deps.draft01);
  return app;
}
