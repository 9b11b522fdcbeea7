import type { FastifyRequest } from 'fastify';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema } from '@sinclair/typebox';
import type { Draft01Registration } from '@hookgate/contracts';
import type { StagePipeline } from '@hookgate/pipeline';
import type { DedupeStore, RegistrationStore } from '@hookgate/state-store';
import type { DefaultReplies } from '@hookgate/verdict';
import type { endpointsOf, Draft01Settings } from '../adapters/draft01/settings.js';

export interface Draft01Deps {
  registrations: RegistrationStore;
  dedupe: DedupeStore;
  settings: Draft01Settings;
  /** Replies for tempfail/reject when a verdict carries none (the configured verdict.replies). */
  replies?: DefaultReplies;
  /** Adds X-Hookgate-Reason to answers (debugging; content-free). */
  reasonHeader?: boolean;
  now?: () => number;
}

/** What every draft-01 route works with: the deps with their defaults applied. */
export interface Draft01Context {
  pipeline: StagePipeline;
  settings: Draft01Settings;
  endpoints: ReturnType<typeof endpointsOf>;
  store: RegistrationStore;
  dedupe: DedupeStore;
  replies: DefaultReplies;
  reasonHeader: boolean;
  now: () => number;
  /** The registration a hook call was answered for, so its statistics count the answer whatever it was. */
  answeredFor: WeakMap<FastifyRequest, { reg: Draft01Registration; started: number }>;
}

/** A compiled body schema whose first problem reads `body.path: message`, for the error body. */
export function bodyCheck<T extends TSchema>(schema: T): (body: unknown) => string | undefined {
  const check: TypeCheck<T> = TypeCompiler.Compile(schema);
  return (body) => {
    if (check.Check(body)) return undefined;
    const e = check.Errors(body).First();
    return e ? `body${e.path.replace(/\//g, '.')}: ${e.message}` : 'body does not match the schema';
  };
}

export const iso = (ms: number) => new Date(ms).toISOString();
