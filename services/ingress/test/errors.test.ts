import { describe, expect, it } from 'vitest';
import { errorCodes } from 'fastify';
import { DRAFT01_ERRORS, ERR, ERRORS, HookgateError } from '@hookgate/contracts';
import { HttpError, toHttpError } from '@hookgate/ingress';
import { asDraft01Error } from '../src/routes/draft01-errors.js';

const view = (e: HttpError) => [e.statusCode, e.code, e.message];

describe('toHttpError: one mapping of anything thrown, for every route', () => {
  it("maps fastify's own errors to catalogue entries", () => {
    expect(view(toHttpError(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE()))).toEqual([
      413,
      ERR.BODY_TOO_LARGE,
      ERRORS.BODY_TOO_LARGE.message,
    ]);
    expect(view(toHttpError(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE('text/xml')))).toEqual([
      415,
      ERR.MEDIA_TYPE_UNSUPPORTED,
      ERRORS.MEDIA_TYPE_UNSUPPORTED.message,
    ]);
    expect(view(toHttpError(new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY()))).toEqual([
      400,
      ERR.REQUEST_INVALID,
      'body is not valid JSON',
    ]);
    expect(view(toHttpError(new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY()))).toEqual([
      400,
      ERR.REQUEST_INVALID,
      'body is not valid JSON',
    ]);
  });

  it('keeps the status of a framework client error it does not name, under REQUEST_INVALID; a 503 is UNAVAILABLE with Retry-After', () => {
    const long = toHttpError(new errorCodes.FST_ERR_MAX_PARAM_LENGTH('x'.repeat(500), 100));
    expect([long.statusCode, long.code, long.message.length]).toEqual([414, ERR.REQUEST_INVALID, 300]);
    const busy = toHttpError(new errorCodes.FST_ERR_HANDLER_TIMEOUT(10, '/x'));
    expect([busy.statusCode, busy.code, busy.retryAfterSec]).toEqual([503, ERR.UNAVAILABLE, 1]);
  });

  it('answers a hookgate error with its catalogue status, anything else as INTERNAL without detail', () => {
    expect(view(toHttpError(new HookgateError(ERR.QUARANTINE_GONE, 'item q1 expired')))).toEqual([
      410,
      ERR.QUARANTINE_GONE,
      'item q1 expired',
    ]);
    expect(view(toHttpError(new HookgateError(ERR.STORE_UNAVAILABLE, 'redis down at 10.0.0.7')))).toEqual([
      500,
      ERR.INTERNAL,
      'internal error',
    ]);
    expect(view(toHttpError(new TypeError('x is undefined')))).toEqual([500, ERR.INTERNAL, 'internal error']);
    const own = new HttpError(ERRORS.NOT_FOUND, 'no such thing');
    expect(toHttpError(own)).toBe(own);
  });
});

describe('asDraft01Error: the draft routes speak only the draft’s codes', () => {
  it('maps hookgate codes to their draft-01 counterparts', () => {
    expect(view(asDraft01Error(toHttpError(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE()), false))).toEqual([
      413,
      'REQUEST_TOO_LARGE',
      DRAFT01_ERRORS.REQUEST_TOO_LARGE.message,
    ]);
    expect(view(asDraft01Error(new HttpError(ERRORS.AUTH_REQUIRED), false))).toEqual([
      401,
      'AUTHENTICATION_REQUIRED',
      'authentication required',
    ]);
    expect(view(asDraft01Error(new HttpError(ERRORS.AUTH_REQUIRED), true))).toEqual([
      401,
      'INVALID_CREDENTIALS',
      'invalid credentials',
    ]);
    expect(
      view(asDraft01Error(new HttpError(ERRORS.REQUEST_INVALID, 'body is not valid CBOR'), false)),
    ).toEqual([400, 'INVALID_REQUEST', 'body is not valid CBOR']);
    expect(view(asDraft01Error(toHttpError(new Error('boom')), false))).toEqual([
      500,
      'INTERNAL_ERROR',
      'internal error',
    ]);
    const media = asDraft01Error(
      toHttpError(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE('text/plain')),
      false,
    );
    expect([media.statusCode, media.code]).toEqual([415, 'INVALID_REQUEST']);
  });

  it('leaves draft-01 errors as they are, Retry-After included', () => {
    const limited = new HttpError(DRAFT01_ERRORS.RATE_LIMITED);
    expect(asDraft01Error(limited, true)).toBe(limited);
    expect([limited.statusCode, limited.retryAfterSec]).toEqual([429, 1]);
  });
});
