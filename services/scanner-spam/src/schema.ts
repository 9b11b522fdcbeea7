/**
 * Schema helpers of the rspamd and spamd configs (the shared fragments come from @hookgate/contracts): a spam
 * action, and defaults for a partial config.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ERR, HookgateError, literals } from '@hookgate/contracts';

export const SpamAction = (def: 'reject' | 'quarantine' | 'discard') =>
  literals(['reject', 'quarantine', 'discard'] as const, { default: def });

/**
 * Fills defaults into a partial config and validates it, listing every problem. Lets the factories take the
 * central config's value as is, or a few keys in tests and the bench.
 */
export function withDefaults<T extends TSchema>(
  schema: T,
  input: Partial<Static<T>>,
  what: string,
): Static<T> {
  const value = Value.Default(schema, Value.Clone(input)) as Static<T>;
  const problems = [...Value.Errors(schema, value)].map((e) => `${e.path || '(root)'}: ${e.message}`);
  if (problems.length > 0)
    throw new HookgateError(
      ERR.CONFIG_INVALID,
      `invalid ${what} config: ${[...new Set(problems)].join('; ')}`,
    );
  return value;
}
