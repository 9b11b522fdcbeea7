/**
 * hookgate's configuration: one schema, a YAML file (HOOKGATE_CONFIG) plus HOOKGATE_* environment overrides,
 * validated once at startup with every problem listed. docs/configuration.md documents each key;
 * deploy/config/hookgate.example.yaml is a commented example.
 */
import { Type, type Static } from '@sinclair/typebox';
import {
  ACTIONS,
  DEFAULT_SEVERITY,
  STAGES,
  errorMessage,
  literals as lit,
  replySchema as Reply,
} from '@hookgate/contracts';
import { compileRules } from '@hookgate/verdict';
import { MilterConfigSchema } from '@hookgate/milter';
import {
  ConfigError,
  closest,
  readConfigFile,
  setPath,
  validateConfig,
  envOrFile,
  type ConfigProblem,
} from '@hookgate/config';
import { ConnectionLimitsSchema } from '@hookgate/ingress';
import { Draft01ConfigSchema, TlsConfigSchema, checkDraft01AndTls } from './draft01.js';
import { parseRelayUrl } from '@hookgate/quarantine';
import { checkScanners, SCANNER_IDS, ScannersSchema } from './scanners.js';
import { ENV_VARS } from './env.js';
import { PolicyBankSchema, RuleSchema } from './policy-schema.js';

export { ENV_VARS, KNOWN_ENV, checkEnvironment } from './env.js';

export const ConfigSchema = Type.Object({
  version: Type.Literal(1, { default: 1 }),
  listen: Type.String({
    default: '127.0.0.1:8080',
    pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]+):\\d{1,5}$',
    description: 'host:port, e.g. 127.0.0.1:8080 or [::]:8080',
  }),
  log: Type.Object(
    { level: lit(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info' }) },
    { default: {} },
  ),
  redis: Type.Object(
    {
      /** Unset: `hookgate all` starts a private redis-server; other roles refuse to start. */
      url: Type.Optional(Type.String({ pattern: '^rediss?://', description: 'a redis:// or rediss:// URL' })),
      cluster: Type.Optional(
        Type.Array(Type.String({ pattern: '^[^\\s:]+:\\d+$', description: 'host:port' }), { minItems: 1 }),
      ),
      sentinels: Type.Optional(
        Type.Array(Type.String({ pattern: '^[^\\s:]+:\\d+$', description: 'host:port' }), { minItems: 1 }),
      ),
      sentinelName: Type.Optional(Type.String({ minLength: 1 })),
      password: Type.Optional(Type.String()),
      prefix: Type.String({ default: 'hg', pattern: '^[A-Za-z0-9_-]+$' }),
      commandTimeoutMs: Type.Integer({ minimum: 50, maximum: 60000, default: 1000 }),
    },
    { default: {} },
  ),
  auth: Type.Object(
    {
      tokens: Type.Array(
        Type.Object({ identity: Type.String({ minLength: 1 }), token: Type.String({ minLength: 16 }) }),
        { default: [] },
      ),
      basic: Type.Array(
        Type.Object({
          username: Type.String({ minLength: 1, pattern: '^[^:]+$' }),
          secret: Type.String({ minLength: 8 }),
        }),
        { default: [] },
      ),
      /** Listening beyond loopback without any credentials is refused unless this is true. */
      allowUnauthenticated: Type.Boolean({ default: false }),
    },
    { default: {} },
  ),
  /** Request size, in-flight bytes, timeouts and connection limits of the HTTP ingress (timeouts and connections: @hookgate/ingress). */
  limits: Type.Object(
    {
      maxBodyBytes: Type.Integer({ minimum: 1024, default: 52_428_800 }),
      /** Message bytes this process may hold in Redis for scans in flight, all callers together. */
      inFlightBytes: Type.Integer({ minimum: 1_048_576, default: 536_870_912 }),
      /** The same for one caller (an MTA identity, or a client address when unauthenticated). */
      inFlightBytesPerCaller: Type.Integer({ minimum: 1024, default: 134_217_728 }),
      ...ConnectionLimitsSchema.properties,
    },
    { default: {} },
  ),
  /** HTTPS and mutual TLS for the ingress (keys in src/draft01.ts and docs/configuration.md). */
  tls: TlsConfigSchema,
  stages: Type.Object(
    {
      /** Time from receipt to answer per stage, ms. Well below Stalwart's 30 s hook timeout. */
      deadlineMs: Type.Object(
        Object.fromEntries(
          STAGES.map((s) => [
            s,
            Type.Integer({
              minimum: 100,
              maximum: 300_000,
              default: s === 'data' || s === 'dsn' || s === 'delivery' || s === 'defer' ? 20_000 : 5_000,
            }),
          ]),
        ),
        { default: {} },
      ),
      /** The MTA's hook timeout (Stalwart: 30 s); answers come at least `marginMs` earlier. */
      mtaTimeoutMs: Type.Integer({ minimum: 1000, default: 30_000 }),
      marginMs: Type.Integer({ minimum: 0, default: 2_000 }),
      /** How long transaction state and message bytes stay in Redis, ms. */
      stateTtlMs: Type.Integer({ minimum: 10_000, default: 600_000 }),
    },
    { default: {} },
  ),
  verdict: Type.Object(
    {
      severity: Type.Array(lit(ACTIONS), {
        default: [...DEFAULT_SEVERITY],
        minItems: ACTIONS.length,
        maxItems: ACTIONS.length,
        uniqueItems: true,
      }),
      replies: Type.Object(
        {
          tempfail: Reply(451, '4.7.1', 'Temporary failure in content scanning, try again later'),
          reject: Reply(550, '5.7.1', 'Message rejected by content policy'),
        },
        { default: {} },
      ),
    },
    { default: {} },
  ),
  /** Policy banks by name; `default` applies when no rule matches. */
  policies: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }), PolicyBankSchema, {
    default: { default: {} },
  }),
  /** Select a bank per request; first match wins. */
  rules: Type.Array(RuleSchema, { default: [] }),
  /** Scan results cached by content hash + scanner + config version; 0 disables. */
  // Ten minutes, like the transaction state: long enough for a retry after a tempfail or one message sent to many
  // recipients in separate transactions; Redis then holds ten minutes of outcomes, not an hour (issue 11).
  cache: Type.Object({ ttlMs: Type.Integer({ minimum: 0, default: 600_000 }) }, { default: {} }),
  admin: Type.Object(
    {
      tokens: Type.Array(
        Type.Object({ identity: Type.String({ minLength: 1 }), token: Type.String({ minLength: 16 }) }),
        { default: [] },
      ),
    },
    { default: {} },
  ),
  metrics: Type.Object(
    {
      /** Health and metrics server of worker and milter processes (the ingress serves both on its own port). */
      listen: Type.Union(
        [
          Type.String({ pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]+):\\d{1,5}$', description: 'host:port' }),
          Type.Null(),
        ],
        { default: '127.0.0.1:9464' },
      ),
    },
    { default: {} },
  ),
  debug: Type.Object(
    {
      /** Adds the sender domain to spans (addresses are otherwise kept out of telemetry). */
      spanAddresses: Type.Boolean({ default: false }),
      /** Adds `X-Hookgate-Reason` (action, deciding scanners, reasons; no content) to hook answers. */
      reasonHeader: Type.Boolean({ default: false }),
    },
    { default: {} },
  ),
  protocols: Type.Object(
    {
      stalwart: Type.Object(
        {
          /** reject/discard: kept in hookgate's quarantine; header/quarantine: left to Stalwart (docs/protocols/stalwart.md). */
          quarantine: lit(['reject', 'discard', 'header', 'quarantine'] as const, { default: 'reject' }),
          quarantineHeader: Type.Object(
            {
              name: Type.String({ default: 'X-Hookgate-Quarantine' }),
              value: Type.String({ default: 'yes' }),
            },
            { default: {} },
          ),
        },
        { default: {} },
      ),
      /** MTA Hooks draft-01 (docs/protocols/draft01.md). */
      draft01: Draft01ConfigSchema,
    },
    { default: {} },
  ),
  /** The milter frontend (`hookgate milter`); keys in docs/protocols/milter.md. */
  milter: MilterConfigSchema,
  /** Where quarantine verdicts keep their mail (issue 16; docs/operations.md). */
  quarantine: Type.Object(
    {
      store: lit(['redis', 'filesystem'] as const, { default: 'redis' }),
      /** The directory of the filesystem store (shared by every replica that answers quarantine verdicts). */
      directory: Type.Optional(Type.String({ minLength: 1 })),
      /** How long an item is kept, tombstones of released and deleted items included, ms. Default 7 days. */
      retentionMs: Type.Integer({ minimum: 60_000, default: 604_800_000 }),
      /** Message bytes held at most; above it quarantine verdicts are answered tempfail. */
      maxBytes: Type.Integer({ minimum: 1_048_576, default: 268_435_456 }),
      /** Where releases are delivered: smtp://host:port (STARTTLS when offered) or smtps://; user:pass@ for AUTH. */
      relay: Type.Optional(
        Type.String({ pattern: '^smtps?://', description: 'smtp://host:port or smtps://host:port' }),
      ),
      relayTimeoutMs: Type.Integer({ minimum: 1000, maximum: 300_000, default: 30_000 }),
      /** The answer to the MTA when its mail was kept and the protocol's mode is `reject`; {id} is the item. */
      reply: Reply(550, '5.7.1', 'Message quarantined as {id}'),
    },
    { default: {} },
  ),
  /** The operator console served by the ingress (issue 16; docs/operations.md). */
  console: Type.Object(
    {
      enabled: Type.Boolean({ default: true }),
      path: Type.String({
        default: '/console',
        pattern: '^(/[A-Za-z0-9._~-]+)+$',
        description: 'a path such as /console',
      }),
      /** Recent verdicts kept for the console's live view (a capped Redis stream); 0 turns the feed off. */
      feedEntries: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 5_000 }),
    },
    { default: {} },
  ),
  /** One section per scanner, derived from the registrations in src/scanners.ts. */
  scanners: ScannersSchema,
});

export type HookgateConfig = Static<typeof ConfigSchema>;

/**
 * Loads the file named by HOOKGATE_CONFIG (or `path`), applies environment overrides and validates. Throws a
 * ConfigError listing every problem, unknown keys included.
 */
export function loadConfig(env: NodeJS.ProcessEnv, path = env.HOOKGATE_CONFIG): HookgateConfig {
  const raw = (path ? readConfigFile(path) : {}) as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return validateConfig(ConfigSchema, {}, path ?? 'defaults', [
      { path: '(root)', reason: 'must be a mapping of keys' },
    ]);
  }
  const problems: ConfigProblem[] = [];
  // A file that defines only its own banks still gets the default one.
  const policies = raw.policies;
  if (
    typeof policies === 'object' &&
    policies !== null &&
    !Array.isArray(policies) &&
    !('default' in policies)
  ) {
    (policies as Record<string, unknown>).default = {};
  }
  for (const [name, v] of Object.entries(ENV_VARS)) {
    const text = v.file ? envOrFile(env, name) : env[name];
    if (text !== undefined && text !== '') setPath(raw, v.key, v.parse ? v.parse(text, problems) : text);
  }
  const source = path ? `${path} + environment` : 'environment';
  const config = validateConfig(ConfigSchema, raw, source, problems);
  return checkSemantics(config, source);
}

/** Rules a schema cannot express. */
function checkSemantics(config: HookgateConfig, source: string): HookgateConfig {
  const problems: ConfigProblem[] = [];
  const r = config.redis;
  const modes = [r.url, r.cluster, r.sentinels].filter((x) => x !== undefined).length;
  if (modes > 1) problems.push({ path: 'redis', reason: 'set only one of url, cluster, sentinels' });
  if (r.sentinels && !r.sentinelName)
    problems.push({ path: 'redis.sentinelName', reason: 'required with redis.sentinels' });
  const { deadlineMs, mtaTimeoutMs, marginMs } = config.stages;
  if (marginMs >= mtaTimeoutMs)
    problems.push({ path: 'stages.marginMs', reason: 'must be smaller than stages.mtaTimeoutMs' });
  for (const [stage, ms] of Object.entries(deadlineMs)) {
    if ((ms as number) > mtaTimeoutMs - marginMs) {
      problems.push({
        path: `stages.deadlineMs.${stage}`,
        reason: `must be at most mtaTimeoutMs - marginMs (${mtaTimeoutMs - marginMs})`,
      });
    }
  }
  if (config.limits.headersTimeoutMs > config.limits.requestTimeoutMs) {
    problems.push({
      path: 'limits.headersTimeoutMs',
      reason: `must be at most limits.requestTimeoutMs (${config.limits.requestTimeoutMs})`,
    });
  }
  if (config.stages.stateTtlMs < Math.max(...Object.values(deadlineMs).map(Number)) * 2) {
    problems.push({ path: 'stages.stateTtlMs', reason: 'must be at least twice the longest stage deadline' });
  }
  for (const [kind, reply] of Object.entries(config.verdict.replies)) {
    const want = kind === 'tempfail' ? 4 : 5;
    if (Math.floor(reply.code / 100) !== want)
      problems.push({ path: `verdict.replies.${kind}.code`, reason: `must be ${want}xx` });
  }
  if (Math.floor(config.quarantine.reply.code / 100) !== 5)
    problems.push({ path: 'quarantine.reply.code', reason: 'must be 5xx' });
  if (config.quarantine.store === 'filesystem' && !config.quarantine.directory)
    problems.push({ path: 'quarantine.directory', reason: 'required with quarantine.store: filesystem' });
  if (config.quarantine.relay) {
    try {
      parseRelayUrl(config.quarantine.relay);
    } catch (err) {
      problems.push({ path: 'quarantine.relay', reason: errorMessage(err) });
    }
  }
  if (!config.policies.default)
    problems.push({
      path: 'policies.default',
      reason: 'a default policy is required (applies when no rule matches)',
    });
  const knownScanners = new Set<string>(SCANNER_IDS);
  for (const [name, bank] of Object.entries(config.policies)) {
    // Records keyed by scanner id: open in the schema, checked against the scanners here.
    const byScanner = [
      ...Object.keys(bank.scanners).map((id) => ['scanners', id]),
      ...Object.keys(bank.spam.weights).map((id) => ['spam.weights', id]),
    ];
    for (const [where, id] of byScanner as [string, string][]) {
      if (knownScanners.has(id)) continue;
      const near = closest(id, [...knownScanners]);
      problems.push({
        path: `policies.${name}.${where}.${id}`,
        reason: `unknown scanner; ${near ? `did you mean ${near}? ` : ''}known: ${[...knownScanners].join(', ')}`,
      });
    }
    const t = bank.spam;
    const ordered = [t.addHeaderAt, t.quarantineAt, t.rejectAt].filter((x): x is number => x !== null);
    if (ordered.some((x, i) => i > 0 && x < ordered[i - 1]!))
      problems.push({
        path: `policies.${name}.spam`,
        reason: 'thresholds must not decrease: addHeaderAt ≤ quarantineAt ≤ rejectAt',
      });
    if (t.mode === 'score' && t.rejectAt === null && t.quarantineAt === null && t.addHeaderAt === null) {
      problems.push({
        path: `policies.${name}.spam.mode`,
        reason: 'score mode needs at least one threshold',
      });
    }
  }
  config.rules.forEach((rule, i) => {
    if (!config.policies[rule.policy])
      problems.push({ path: `rules.${i}.policy`, reason: `no policy named "${rule.policy}"` });
  });
  problems.push(...compileRules(config.rules).problems);
  problems.push(...checkScanners(config.scanners));
  problems.push(...checkDraft01AndTls(config.tls, config.protocols.draft01));
  if (problems.length > 0) throw new ConfigError(problems, source);
  return config;
}
