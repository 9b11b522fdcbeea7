/** Built-in rule ids, in the order results list them. */
export const BUILTIN_RULES = [
  'pci.card',
  'iban',
  'us.ssn',
  'secret.aws',
  'secret.github',
  'secret.slack',
  'secret.stripe',
  'secret.google',
  'secret.pem',
  'secret.jwt',
] as const;
export type BuiltinRuleId = (typeof BUILTIN_RULES)[number];

/**
 * Reports one validated match. `key` is the normalised matched value, used only to count distinct values inside
 * the engine; it never leaves it. `start`/`end` are UTF-16 offsets in the scanned text.
 */
export type Emit = (rule: string, key: string, start: number, end: number) => void;

/** A family of detectors that share one pass over the text. */
export interface DetectorFamily {
  /** Rule ids this family can emit. */
  readonly rules: readonly string[];
  scan(text: string, emit: Emit): void;
}
