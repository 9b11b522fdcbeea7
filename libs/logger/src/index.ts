/**
 * pino, configured once: JSON lines to stdout, hookgate's redaction list, error serializer. Message content, DLP
 * matches and credentials never reach a log line; the paths below are a second line of defence for mistakes.
 */
import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';
import { activeTraceIds } from '@hookgate/telemetry';

export type { Logger };

/** Paths censored wherever they appear (pino redaction, from code, never from input). */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'password',
  'secret',
  'token',
  '*.password',
  '*.secret',
  '*.token',
  '*.tokens',
  'auth.tokens',
  'auth.basic',
  'message',
  'contents',
  'body',
  'raw',
  'rawMessage',
  '*.contents',
  '*.rawMessage',
  '*.body',
  'matches',
  '*.matches',
];

export interface LoggerConfig {
  level: string;
  /** Bindings on every line, e.g. `{ role: 'ingress' }`. */
  base?: Record<string, unknown>;
}

export function createLogger(config: LoggerConfig, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level: config.level,
    base: { service: 'hookgate', ...config.base },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: pino.stdSerializers.err },
    // trace_id and span_id of the active span on every line written inside a traced request.
    mixin: () => activeTraceIds() ?? {},
  };
  return destination ? pino(options, destination) : pino(options);
}
