export { ATTR, SPAN } from './attributes.js';
export {
  inSpan,
  startSpan,
  withContext,
  activeContext,
  markError,
  injectTrace,
  extractTrace,
  activeTraceIds,
  SpanKind,
  type Span,
  type Context,
  type Attributes,
} from './trace.js';
export { hookgateMetrics, observeGauge, seconds, type Tally } from './metrics.js';
