/**
 * Errors at the HTTP edge. Every error a route answers is an HttpError: an entry of the catalogue in
 * @hookgate/contracts (code, status, default message, Retry-After) plus a message. `toHttpError` is the one mapping
 * of anything thrown (fastify's own FST_ERR_* errors, hookgate errors, bugs) to an HttpError; each route family
 * then writes it in its protocol's error body.
 */
import type { FastifyError } from 'fastify';
import { ERRORS, errorCode, errorSpec, type HttpErrorSpec } from '@hookgate/contracts';

/** An error answered with `spec`'s status and code. */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly code: string;
  readonly retryAfterSec: number | undefined;
  constructor(
    readonly spec: HttpErrorSpec,
    message: string = spec.message,
    /** Only for a framework error hookgate does not name: it keeps the framework's 4xx status. */
    status: number = spec.status,
  ) {
    super(message);
    this.name = 'HttpError';
    this.statusCode = status;
    this.code = spec.code;
    this.retryAfterSec = spec.retryAfterSec;
  }
}

/** fastify's errors hookgate names, by what they mean to the client. */
const FRAMEWORK: Readonly<Record<string, { spec: HttpErrorSpec; message?: string }>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { spec: ERRORS.BODY_TOO_LARGE },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { spec: ERRORS.MEDIA_TYPE_UNSUPPORTED },
  FST_ERR_CTP_EMPTY_JSON_BODY: { spec: ERRORS.REQUEST_INVALID, message: 'body is not valid JSON' },
  FST_ERR_CTP_INVALID_JSON_BODY: { spec: ERRORS.REQUEST_INVALID, message: 'body is not valid JSON' },
};

/**
 * Anything thrown in a route, hook or body parser, as the HttpError it is answered with: an HttpError as it is;
 * a hookgate error whose catalogue entry has an HTTP status with that status; fastify's schema validation and
 * named framework errors as their catalogue entries; any other client error as REQUEST_INVALID (keeping the
 * framework's status and a bounded message); everything else as INTERNAL, which never carries internal detail.
 */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  const e = err as Partial<FastifyError> & Error;
  const spec = errorSpec(errorCode(err));
  if (spec?.status !== undefined) return new HttpError(spec as HttpErrorSpec, e.message);
  if (e.validation) {
    const context = e.validationContext ?? 'body';
    return new HttpError(ERRORS.REQUEST_INVALID, `${context}${e.message.slice(context.length)}`);
  }
  const named = FRAMEWORK[e.code ?? ''];
  if (named) return new HttpError(named.spec, named.message);
  const status = e.statusCode ?? 500;
  if (status === 503) return new HttpError(ERRORS.UNAVAILABLE);
  if (status >= 400 && status < 500) {
    return new HttpError(
      ERRORS.REQUEST_INVALID,
      err instanceof SyntaxError ? 'body is not valid JSON' : String(e.message).slice(0, 300),
      status,
    );
  }
  return new HttpError(ERRORS.INTERNAL);
}
