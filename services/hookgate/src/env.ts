/**
 * The HOOKGATE_* environment: which variables set which config key, and which names hookgate knows at all (a
 * misspelt one is warned about rather than ignored). docs/configuration.md lists them.
 */
import { unknownEnv, type ConfigProblem } from '@hookgate/config';
import { DRAFT01_ENV_KEYS } from './draft01.js';
import { SCANNER_ENV } from './scanners.js';

/** How one environment variable enters the config. */
export interface EnvVar {
  /** The config key it sets. */
  key: string;
  /** A secret: `NAME_FILE` names a file holding the value (a mounted Secret). */
  file?: true;
  /** Turns the text into the key's value; without it, the validator converts the scalar. */
  parse?: (value: string, problems: ConfigProblem[]) => unknown;
}

/**
 * Every HOOKGATE_* variable that sets a config key: the one list the loader applies and the unknown-variable check
 * knows (docs/configuration.md lists them).
 */
export const ENV_VARS: Readonly<Record<string, EnvVar>> = {
  HOOKGATE_LISTEN: { key: 'listen' },
  HOOKGATE_LOG_LEVEL: { key: 'log.level' },
  HOOKGATE_REDIS_URL: { key: 'redis.url' },
  HOOKGATE_REDIS_CLUSTER: { key: 'redis.cluster', parse: splitList },
  HOOKGATE_REDIS_SENTINELS: { key: 'redis.sentinels', parse: splitList },
  HOOKGATE_REDIS_SENTINEL_NAME: { key: 'redis.sentinelName' },
  HOOKGATE_REDIS_PASSWORD: { key: 'redis.password', file: true },
  HOOKGATE_REDIS_PREFIX: { key: 'redis.prefix' },
  HOOKGATE_METRICS_LISTEN: { key: 'metrics.listen' },
  HOOKGATE_AUTH_TOKENS: { key: 'auth.tokens', file: true, parse: (v) => identityTokens(v, 'token') },
  HOOKGATE_AUTH_BASIC: { key: 'auth.basic', file: true, parse: basicPairs },
  HOOKGATE_ALLOW_UNAUTHENTICATED: { key: 'auth.allowUnauthenticated' },
  HOOKGATE_ADMIN_TOKENS: { key: 'admin.tokens', file: true, parse: (v) => identityTokens(v, 'admin') },
  ...SCANNER_ENV,
  HOOKGATE_MILTER_LISTEN: { key: 'milter.listen' },
  HOOKGATE_QUARANTINE_RELAY: { key: 'quarantine.relay', file: true },
  ...Object.fromEntries(Object.entries(DRAFT01_ENV_KEYS).map(([name, key]) => [name, { key }])),
};

/** HOOKGATE_* variables read for something other than a config key. */
const OTHER_ENV = {
  HOOKGATE_CONFIG: 'the config file',
  HOOKGATE_RSPAMD_DBDIR: "the test suite's persistent rspamd database (test/support/rspamd.ts)",
  HOOKGATE_CHILD_NODE_ARGS:
    'node options for hookgate processes started by tests and benchmarks (test/support/processes.ts)',
  HOOKGATE_TEST_DOCKER_DIR:
    "where the image test's private Docker engine keeps its images and cache (test/support/docker.ts)",
  HOOKGATE_TEST_DOCKER_STORAGE:
    "the storage driver of the image test's private Docker engine (test/support/docker.ts)",
} as const;

/** Every HOOKGATE_* name hookgate knows, `_FILE` variants included. */
export const KNOWN_ENV: readonly string[] = [
  ...Object.keys(OTHER_ENV),
  ...Object.entries(ENV_VARS).flatMap(([name, v]) => (v.file ? [name, `${name}_FILE`] : [name])),
];

/** Warnings for HOOKGATE_* variables hookgate does not read (a misspelt name would otherwise be ignored silently). */
export function checkEnvironment(env: NodeJS.ProcessEnv): ConfigProblem[] {
  return unknownEnv(env, 'HOOKGATE_', KNOWN_ENV);
}

/** `identity=token` names the holder; a bare token gets a stable, non-secret identity `<fallback>-N`. */
function identityTokens(list: string, fallback: string): { identity: string; token: string }[] {
  return splitList(list).map((t, i) => {
    const eq = t.indexOf('=');
    return eq > 0
      ? { identity: t.slice(0, eq), token: t.slice(eq + 1) }
      : { identity: `${fallback}-${i + 1}`, token: t };
  });
}

function basicPairs(list: string, problems: ConfigProblem[]): { username: string; secret: string }[] {
  return splitList(list).map((p) => {
    const colon = p.indexOf(':');
    if (colon <= 0) problems.push({ path: 'HOOKGATE_AUTH_BASIC', reason: 'each entry must be user:secret' });
    return { username: p.slice(0, Math.max(colon, 0)), secret: p.slice(colon + 1) };
  });
}

function splitList(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
