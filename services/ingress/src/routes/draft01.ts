/**
 * draft-degennaro-mta-hooks-01 endpoints: discovery, registration, status, deregistration and hook invocation,
 * onto the same stage pipeline and policy as the legacy Stalwart route. Registrations, identity bindings, expiry,
 * statistics and answers for replay live in Redis, so any ingress replica serves any registration.
 *
 * Every error on these routes uses the draft's body `{"error":{"code","message"}}` and its status codes; the
 * encapsulated scope gives them their own error handler and the CBOR body parser, leaving the legacy route alone.
 */
import type { FastifyInstance } from 'fastify';
import type { StagePipeline } from '@hookgate/pipeline';
import { DEFAULT_REPLIES } from '@hookgate/verdict';
import { errorMessage } from '@hookgate/contracts';
import { endpointsOf } from '../adapters/draft01/settings.js';
import { registerCborParser } from '../plugins/cbor.js';
import type { Draft01Context, Draft01Deps } from './draft01-context.js';
import { draft01ErrorHandler } from './draft01-errors.js';
import { hookRoute } from './draft01-hook.js';
import { registrationRoutes } from './draft01-registration.js';

export type { Draft01Deps } from './draft01-context.js';

/** Registers the draft-01 routes in their own scope (error handler, CBOR parser). */
export function draft01Routes(app: FastifyInstance, pipeline: StagePipeline, deps: Draft01Deps): void {
  const ctx: Draft01Context = {
    pipeline,
    settings: deps.settings,
    endpoints: endpointsOf(deps.settings.basePath),
    store: deps.registrations,
    dedupe: deps.dedupe,
    replies: deps.replies ?? DEFAULT_REPLIES,
    reasonHeader: deps.reasonHeader ?? false,
    now: deps.now ?? Date.now,
    answeredFor: new WeakMap(),
  };

  void app.register(async (scope) => {
    registerCborParser(scope);
    scope.setErrorHandler(draft01ErrorHandler);

    scope.addHook('onResponse', async (req, reply) => {
      const a = ctx.answeredFor.get(req);
      if (!a) return;
      const ok = reply.statusCode < 300;
      // Statistics never delay or fail an answer.
      ctx.store
        .recordInvocation(a.reg, ok, ctx.now() - a.started, ctx.now())
        .catch((err: unknown) =>
          req.log.warn({ err: { message: errorMessage(err) } }, 'draft-01 statistics not recorded'),
        );
    });

    registrationRoutes(scope, ctx);
    hookRoute(scope, ctx);
  });
}
