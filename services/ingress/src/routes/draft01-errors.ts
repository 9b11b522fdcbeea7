/**
 * Errors on the draft-01 routes: the draft's body `{"error":{"code","message"}}` with its codes and statuses. An
 * error is first mapped like on every route (toHttpError); hookgate's own codes then become the draft's.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  DRAFT01_ERRORS,
  ERR,
  errorCode,
  errorMessage,
  type ErrorCode,
  type HttpErrorSpec,
} from '@hookgate/contracts';
import { HttpError, toHttpError } from '../errors.js';
import { answerFormat, send } from './draft01-wire.js';

const DRAFT01_SPECS: ReadonlySet<HttpErrorSpec> = new Set(Object.values(DRAFT01_ERRORS));

/** hookgate's codes that have a draft-01 counterpart (answered with its default message). */
const COUNTERPART: Partial<Record<ErrorCode, HttpErrorSpec>> = {
  [ERR.BODY_TOO_LARGE]: DRAFT01_ERRORS.REQUEST_TOO_LARGE,
  [ERR.MEDIA_TYPE_UNSUPPORTED]: DRAFT01_ERRORS.UNSUPPORTED_MEDIA_TYPE,
  [ERR.UNAVAILABLE]: DRAFT01_ERRORS.SCANNER_UNAVAILABLE,
  [ERR.INTERNAL]: DRAFT01_ERRORS.INTERNAL_ERROR,
};

/**
 * An error as the draft-01 error it is answered with. Missing credentials and wrong ones have codes of their own;
 * any other client error is INVALID_REQUEST, any other server error INTERNAL_ERROR (both keep status and message).
 */
export function asDraft01Error(e: HttpError, credentialsPresented: boolean): HttpError {
  if (DRAFT01_SPECS.has(e.spec)) return e;
  if (e.code === ERR.AUTH_REQUIRED)
    return new HttpError(
      credentialsPresented ? DRAFT01_ERRORS.INVALID_CREDENTIALS : DRAFT01_ERRORS.AUTHENTICATION_REQUIRED,
    );
  const counterpart = COUNTERPART[e.code as ErrorCode];
  if (counterpart) return new HttpError(counterpart);
  return new HttpError(
    e.statusCode < 500 ? DRAFT01_ERRORS.INVALID_REQUEST : DRAFT01_ERRORS.INTERNAL_ERROR,
    e.message,
    e.statusCode,
  );
}

/** The error handler of the draft-01 scope. */
export function draft01ErrorHandler(err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const e = asDraft01Error(toHttpError(err), Boolean(req.headers.authorization));
  if (e.code === DRAFT01_ERRORS.INTERNAL_ERROR.code)
    req.log.error({ err: { code: errorCode(err), message: errorMessage(err) } }, 'draft-01 request failed');
  if (e.statusCode === 401) void reply.header('www-authenticate', 'Bearer');
  if (e.retryAfterSec) void reply.header('retry-after', String(e.retryAfterSec));
  return send(reply, e.statusCode, answerFormat(req), { error: { code: e.code, message: e.message } });
}
