import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { ERRORS, LEGACY_STAGES, StalwartRequest, errorMessage, type Verdict } from '@hookgate/contracts';
import type { StagePipeline } from '@hookgate/pipeline';
import { DEFAULT_REPLIES, fallbackVerdict } from '@hookgate/verdict';
import { fromStalwart, toStalwart, type StalwartSettings } from '../adapters/stalwart.js';
import { encodeBody, responseEncoding } from '../plugins/encoding.js';
import { HttpError } from '../errors.js';
import { tracedRequest } from '../plugins/tracing.js';
import { callerOf } from '../plugins/client-identity.js';

/** A short, content-free reason for debugging: action, deciding scanners, policy, reasons. */
export function reasonOf(v: Verdict): string {
  const parts = [
    v.action,
    `by=${v.decidedBy.join(',')}`,
    v.policy ? `policy=${v.policy}` : '',
    v.rule ? `rule=${v.rule}` : '',
    v.partial ? 'partial' : '',
    v.reasons.length ? `reasons=${v.reasons.join(',')}` : '',
  ];
  return parts
    .filter(Boolean)
    .join('; ')
    .replace(/[^\x20-\x7e]/g, '?')
    .slice(0, 512);
}

/** POST /hooks/stalwart: Stalwart's shipping MTA Hooks format, JSON or MessagePack. */
export function stalwartRoute(
  app: FastifyInstance,
  pipeline: StagePipeline,
  settings: StalwartSettings,
  reasonHeader: boolean,
): void {
  app.withTypeProvider<TypeBoxTypeProvider>().post(
    '/hooks/stalwart',
    {
      schema: { body: StalwartRequest },
      preValidation: async (req) => {
        // A clear answer for the common mistakes before schema validation: wrong body shape, unknown stage.
        const body = req.body as { context?: { stage?: unknown } } | null;
        if (typeof body !== 'object' || body === null || Array.isArray(body)) {
          throw new HttpError(ERRORS.REQUEST_INVALID, 'body must be a JSON or MessagePack object');
        }
        const stage = body.context?.stage;
        if (typeof stage === 'string') {
          const lower = stage.toLowerCase();
          // Stalwart's docs show upper-case stages; its code sends lower case. Accept both.
          if ((LEGACY_STAGES as readonly string[]).includes(lower)) body.context!.stage = lower;
          else
            throw new HttpError(
              ERRORS.STAGE_UNKNOWN,
              `unknown stage "${stage.slice(0, 32)}": expected one of ${LEGACY_STAGES.join(', ')}`,
            );
        }
      },
    },
    async (req, reply) => {
      const { encoding, type } = responseEncoding(req.headers['content-type'], req.headers.accept);
      let answer;
      try {
        const { incoming, message } = fromStalwart(req.body);
        const outcome = await tracedRequest(req, 'stalwart', incoming.stage, () =>
          pipeline.handle({ ...incoming, receivedAt: req.receivedAt, caller: callerOf(req) }, message),
        );
        answer = toStalwart(outcome.verdict, incoming.stage, settings);
        void reply.header('x-hookgate-request-id', outcome.request.reqId);
        // A stage that checked nothing is not recorded and belongs to no numbered transaction.
        if (outcome.request.txnId) void reply.header('x-hookgate-transaction-id', outcome.request.txnId);
        if (reasonHeader) void reply.header('x-hookgate-reason', reasonOf(outcome.verdict));
      } catch (err) {
        // An explicit tempfail rather than leaning on Stalwart's tempFailOnError.
        req.log.error({ err: { message: errorMessage(err) } }, 'stalwart hook failed');
        answer = toStalwart(
          fallbackVerdict('tempfail', 'internal-error', DEFAULT_REPLIES),
          req.body.context.stage,
          settings,
        );
      }
      return reply.code(200).type(type).send(encodeBody(answer, encoding));
    },
  );
}
