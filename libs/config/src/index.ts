/**
 * Load-and-validate utilities: a YAML (or JSON) file, environment overrides, defaults, and every problem listed
 * at once with its key path. Service schemas live in their composition roots; this lib knows none of them.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { Value } from '@sinclair/typebox/value';
import type { Static, TSchema } from '@sinclair/typebox';
import { ConfigError, type ConfigProblem } from './problem.js';
import { unknownKeys } from './keys.js';

export { ConfigError, type ConfigProblem } from './problem.js';
export { closest, editDistance, unknownEnv, unknownKeys } from './keys.js';

/** Reads a config file; YAML is a superset of JSON, so both work. */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      [{ path, reason: `cannot read file: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }],
      path,
    );
  }
  try {
    return parseYaml(text, { prettyErrors: true }) ?? {};
  } catch (err) {
    const reason =
      err instanceof YAMLParseError ? (err.message.split('\n')[0] ?? 'parse error') : String(err);
    throw new ConfigError([{ path, reason: `not valid YAML: ${reason}` }], path);
  }
}

/** Sets `value` at a dotted path inside `target`, creating objects on the way. */
export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

/**
 * Applies defaults, converts scalar strings where the schema wants numbers or booleans, and validates. Objects are
 * closed: a key the schema does not declare is a problem naming the closest known one (see unknownKeys). Throws a
 * ConfigError listing every problem.
 */
export function validateConfig<T extends TSchema>(
  schema: T,
  input: unknown,
  source: string,
  extra: ConfigProblem[] = [],
): Static<T> {
  const withDefaults = Value.Default(schema, Value.Clone(input ?? {}));
  const converted = Value.Convert(schema, withDefaults);
  // Unknown keys first: for a schema that sets additionalProperties: false, their message (with a suggestion)
  // wins over the validator's for the same path.
  const problems: ConfigProblem[] = [...extra, ...unknownKeys(schema, input ?? {})];
  for (const e of Value.Errors(schema, converted)) {
    const path = e.path.replace(/^\//, '').replace(/\//g, '.') || '(root)';
    // Unions report one error per branch; keep the first per path.
    if (!problems.some((p) => p.path === path))
      problems.push({ path, reason: reasonFor(e.schema, e.message) });
  }
  if (problems.length > 0) throw new ConfigError(problems, source);
  return converted as Static<T>;
}

/** A reason an operator can act on: the schema's description, the allowed values, or TypeBox's message. */
function reasonFor(schema: TSchema, message: string): string {
  if (typeof schema.description === 'string') return `must be ${schema.description}`;
  const anyOf = (schema as { anyOf?: { const?: unknown }[] }).anyOf;
  if (anyOf && anyOf.length > 0 && anyOf.every((s) => s.const !== undefined)) {
    return `must be one of ${anyOf.map((s) => String(s.const)).join(', ')}`;
  }
  return message;
}

/** Parses a duration or size-free positive integer given as text. */
export function parseIntStrict(value: string): number | undefined {
  return /^\d+$/.test(value.trim()) ? Number(value.trim()) : undefined;
}

/** Reads `NAME` or, for secrets, the file named by `NAME_FILE` (a mounted Secret). */
export function envOrFile(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const direct = env[name];
  if (direct !== undefined && direct !== '') return direct;
  const file = env[`${name}_FILE`];
  if (file) return readFileSync(file, 'utf8').trim();
  return undefined;
}
