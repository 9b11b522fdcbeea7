/**
 * The OpenTelemetry SDK bootstrap, imported only by the composition root. Traces go over OTLP/HTTP when the
 * standard `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT` is set (off otherwise); metrics are always available for a
 * Prometheus scrape, and also exported over OTLP when `OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT` is set. Every other
 * `OTEL_*` variable (service name, resource attributes, protocol, headers, sampler) works as documented upstream.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';

export interface TelemetryOptions {
  /** Default `service.name` when OTEL_SERVICE_NAME is unset. */
  serviceName: string;
  /** The process role (ingress, worker, all, milter), as `service.instance.role`. */
  role: string;
  env: NodeJS.ProcessEnv;
  /** Extra span processors (tests use an in-memory exporter). */
  spanProcessors?: SpanProcessor[];
}

export interface Telemetry {
  tracing: boolean;
  otlpMetrics: boolean;
  /** Serves the Prometheus text format (mount on `/metrics`). */
  metricsHandler: (req: IncomingMessage, res: ServerResponse) => void;
  shutdown(): Promise<void>;
}

const truthy = (v: string | undefined) => v !== undefined && v !== '' && v !== 'none';

export function startTelemetry(o: TelemetryOptions): Telemetry {
  const env = o.env;
  const disabled = env.OTEL_SDK_DISABLED === 'true';
  const tracing =
    !disabled &&
    env.OTEL_TRACES_EXPORTER !== 'none' &&
    (truthy(env.OTEL_EXPORTER_OTLP_ENDPOINT) || truthy(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT));
  const otlpMetrics =
    !disabled &&
    env.OTEL_METRICS_EXPORTER !== 'none' &&
    (truthy(env.OTEL_EXPORTER_OTLP_ENDPOINT) || truthy(env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT));

  // Scraped through hookgate's own HTTP server: no second listening port from the exporter.
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const readers: IMetricReader[] = [prometheus];
  if (otlpMetrics)
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter(),
        exportIntervalMillis: Number(env.OTEL_METRIC_EXPORT_INTERVAL ?? 15_000),
      }),
    );

  const spanProcessors = [
    ...(tracing ? [new BatchSpanProcessor(new OTLPTraceExporter())] : []),
    ...(o.spanProcessors ?? []),
  ];
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ?? o.serviceName,
    resource: resourceFromAttributes({ 'hookgate.role': o.role }),
    spanProcessors,
    metricReaders: readers,
    logRecordProcessors: [],
    instrumentations: [],
    // Without tracing, no context manager either: spans stay no-ops and no async hook follows every promise
    // (issue 12: a per-request cost for nothing).
    // (null is the SDK's documented "do not register", which its type does not admit.)
    ...(spanProcessors.length > 0 ? {} : { contextManager: null as unknown as undefined }),
  });
  try {
    sdk.start();
  } catch {
    // Telemetry must never stop the service; without the SDK the API stays a no-op.
  }
  let stopped: Promise<void> | undefined;
  return {
    tracing: tracing || spanProcessors.length > 0,
    otlpMetrics,
    metricsHandler: (req, res) => prometheus.getMetricsRequestHandler(req, res),
    shutdown() {
      stopped ??= sdk.shutdown().catch(() => undefined);
      return stopped;
    },
  };
}
