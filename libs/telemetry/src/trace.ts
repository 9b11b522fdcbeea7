/**
 * The tracing facade libraries use: @opentelemetry/api only (a no-op until the SDK starts in the composition
 * root). Never throws into the request path.
 */
import {
  context,
  propagation,
  trace,
  SpanKind,
  SpanStatusCode,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { errorMessage } from '@hookgate/contracts';

export { SpanKind, type Span, type Context, type Attributes };

const tracer = () => trace.getTracer('hookgate');

/** Runs `fn` inside a new span (child of the active one, or of `parent`), ending it however `fn` ends. */
export async function inSpan<T>(
  name: string,
  attrs: Attributes,
  fn: (span: Span) => Promise<T>,
  opts: { kind?: SpanKind; parent?: Context } = {},
): Promise<T> {
  const parent = opts.parent ?? context.active();
  const span = tracer().startSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, attributes: attrs }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(err) });
    throw err;
  } finally {
    span.end();
  }
}

/** Starts a span the caller ends (for work that outlives one function). */
export function startSpan(
  name: string,
  attrs: Attributes,
  opts: { kind?: SpanKind; parent?: Context } = {},
): { span: Span; ctx: Context } {
  const parent = opts.parent ?? context.active();
  const span = tracer().startSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, attributes: attrs }, parent);
  return { span, ctx: trace.setSpan(parent, span) };
}

/** The current context, to parent spans started later from callbacks (e.g. a Pub/Sub message). */
export function activeContext(): Context {
  return context.active();
}

export function withContext<T>(ctx: Context, fn: () => T): T {
  return context.with(ctx, fn);
}

export function markError(span: Span, message: string): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

/** W3C trace context of the active span, for job data (`traceparent`, `tracestate`). */
export function injectTrace(ctx: Context = context.active()): Record<string, string> | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return Object.keys(carrier).length > 0 ? carrier : undefined;
}

/** The context carried by headers or job data; the active context when there is none. */
export function extractTrace(carrier: Record<string, string | string[] | undefined> | undefined): Context {
  if (!carrier) return context.active();
  return propagation.extract(context.active(), carrier, {
    get: (c, k) => {
      const v = c[k];
      return Array.isArray(v) ? v[0] : v;
    },
    keys: (c) => Object.keys(c),
  });
}

/** trace_id and span_id of the active span, for log lines. */
export function activeTraceIds(): { trace_id: string; span_id: string } | undefined {
  const sc = trace.getActiveSpan()?.spanContext();
  if (!sc || !trace.isSpanContextValid(sc)) return undefined;
  return { trace_id: sc.traceId, span_id: sc.spanId };
}
