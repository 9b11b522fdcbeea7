import type { Draft01ErrorCode, HttpErrorSpec } from '@hookgate/contracts';

/** A request the draft-01 adapter refuses: a draft-01 error code (an entry of DRAFT01_ERRORS) and why. */
export type Problem = { code: Draft01ErrorCode; message: string };

/** What an adapter step gives: its value, or the problem that refuses the request. */
export type Result<T> = { ok: true; value: T } | ({ ok: false } & Problem);

type Draft01Spec = HttpErrorSpec & { code: Draft01ErrorCode };

/** A problem for the catalogue entry `spec` (one of DRAFT01_ERRORS). */
export const problem = (spec: Draft01Spec, message: string = spec.message): Problem => ({
  code: spec.code,
  message,
});

/** The refusing Result for `spec`. */
export const fail = (spec: Draft01Spec, message?: string): { ok: false } & Problem => ({
  ok: false,
  ...problem(spec, message),
});
