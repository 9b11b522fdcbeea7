/**
 * Validation of a DLP config beyond its schema (operator rules compile under RE2, ids unique), and resolving a
 * raw config into the typed one. Separate from config.ts so the schema does not depend on the rule compiler.
 */
import { Value } from '@sinclair/typebox/value';
import { ERR, HookgateError } from '@hookgate/contracts';
import { BUILTIN_RULES } from './detectors/types.js';
import { validateOperatorRules } from './rules.js';
import { DlpConfigSchema, type DlpConfigProblem, type DlpScannerConfig } from './config.js';

/**
 * Rules a schema cannot express: operator regexes must compile under RE2 and not match the empty string, ids must
 * be unique and not shadow a built-in rule, each rule has exactly one of `pattern` or `keywords`.
 */
export function validateDlpRules(config: Pick<DlpScannerConfig, 'rules'>, prefix = ''): DlpConfigProblem[] {
  const problems = validateOperatorRules(config.rules, new Set<string>(BUILTIN_RULES));
  return prefix ? problems.map((p) => ({ path: `${prefix}.${p.path}`, reason: p.reason })) : problems;
}

/**
 * Applies defaults, validates the schema and the rules, and returns the typed config. Throws a HookgateError
 * (`HOOKGATE_ERR_CONFIG_INVALID`) listing every problem.
 */
export function resolveDlpConfig(input: unknown = {}): DlpScannerConfig {
  const withDefaults = Value.Default(DlpConfigSchema, Value.Clone(input ?? {}));
  const converted = Value.Convert(DlpConfigSchema, withDefaults);
  const problems: DlpConfigProblem[] = [];
  for (const e of Value.Errors(DlpConfigSchema, converted)) {
    const path = e.path.replace(/^\//, '').replace(/\//g, '.') || '(root)';
    if (!problems.some((p) => p.path === path)) problems.push({ path, reason: e.message });
  }
  if (problems.length === 0) problems.push(...validateDlpRules(converted as DlpScannerConfig));
  if (problems.length > 0) throw dlpConfigError(problems);
  return converted as DlpScannerConfig;
}

/** The error thrown for an invalid DLP config; `message` lists every problem. */
export function dlpConfigError(problems: DlpConfigProblem[]): HookgateError {
  const err = new HookgateError(
    ERR.CONFIG_INVALID,
    `invalid DLP configuration:\n${problems.map((p) => `  - ${p.path}: ${p.reason}`).join('\n')}`,
  );
  return Object.assign(err, { problems });
}
