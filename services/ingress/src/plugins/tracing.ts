import type { FastifyRequest } from 'fastify';
import { ATTR, SPAN, SpanKind, extractTrace, inSpan, type Span } from '@hookgate/telemetry';

/**
 * Runs a hook request inside a SERVER span that continues the MTA's W3C `traceparent`, so the MTA, ingress,
 * queue, workers and scanners show as one trace.
 */
export function tracedRequest<T>(
  req: FastifyRequest,
  protocol: string,
  stage: string,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return inSpan(
    SPAN.REQUEST,
    { [ATTR.PROTOCOL]: protocol, [ATTR.STAGE]: stage, 'http.route': req.routeOptions.url ?? '' },
    fn,
    {
      kind: SpanKind.SERVER,
      parent: extractTrace(req.headers),
    },
  );
}
