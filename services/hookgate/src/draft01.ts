/**
 * Configuration and wiring for MTA Hooks draft-01 (`protocols.draft01`) and transport security (`tls`): schema
 * fragments composed into config.ts, the rules a schema cannot express, and the ingress dependencies built from
 * them. docs/configuration.md documents each key; docs/protocols/draft01.md the protocol behaviour.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { ConfigProblem } from '@hookgate/config';
import type { RedisClient } from '@hookgate/redis';
import { DedupeStore, RegistrationStore } from '@hookgate/state-store';
import type { Draft01Deps, IngressDeps } from '@hookgate/ingress';
import type { DefaultReplies } from '@hookgate/verdict';

const lit = <T extends readonly string[]>(values: T, opts: object = {}) =>
  Type.Union(values.map((v) => Type.Literal(v)) as never, opts) as unknown as TSchema & { static: T[number] };

export const Draft01ConfigSchema = Type.Object(
  {
    /** Serve discovery, registration and hooks. */
    enabled: Type.Boolean({ default: true }),
    /** Prefix of the registration and hook endpoints (discovery is always /.well-known/mta-hooks). */
    basePath: Type.String({
      default: '/mta-hooks/v1',
      pattern: '^(/[A-Za-z0-9._~-]+)+$',
      description: 'a path such as /mta-hooks/v1',
    }),
    /** false: new registrations get 503 REGISTRATION_DISABLED; existing ones keep working. */
    registrationEnabled: Type.Boolean({ default: true }),
    /** Longest registration lifetime (and the default one), ms. MTAs register again before expiry. */
    registrationTtlMs: Type.Integer({ minimum: 60_000, maximum: 2_678_400_000, default: 86_400_000 }),
    /** An id keeps working this long after it expired, was deregistered or was replaced by a renewal, ms. */
    graceMs: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 30_000 }),
    /** How long a deregistered or expired registration is remembered (410 / clear 404), ms. */
    tombstoneMs: Type.Integer({ minimum: 0, maximum: 2_678_400_000, default: 86_400_000 }),
    /** How long answers are kept to replay to retries with the same request id, ms. */
    dedupeWindowMs: Type.Integer({ minimum: 1_000, maximum: 86_400_000, default: 600_000 }),
    /** Live registrations per MTA identity (409 REGISTRATION_LIMIT_REACHED beyond). */
    maxRegistrations: Type.Integer({ minimum: 1, maximum: 100_000, default: 64 }),
    /** Largest hook request body, bytes; default `limits.maxBodyBytes`. Base64 in JSON adds a third. */
    maxMessageSize: Type.Optional(Type.Integer({ minimum: 1024 })),
    /** Hook calls at once per ingress instance (503 + Retry-After beyond). */
    maxInFlight: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1024 }),
    /** Hook calls at once per registration per instance (429 + Retry-After beyond). */
    maxInFlightPerRegistration: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 256 }),
    /** Identities allowed to register; empty = any authenticated identity. */
    allowedIdentities: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
    /** A quarantine verdict: kept by hookgate and answered reject (naming the item) or discard; `mta`: the MTA's own. */
    quarantine: lit(['reject', 'discard', 'mta'] as const, { default: 'reject' }),
  },
  { default: {} },
);
export type Draft01Config = Static<typeof Draft01ConfigSchema>;

export const TlsConfigSchema = Type.Object(
  {
    /** PEM certificate chain file; with `key`, the ingress serves HTTPS only. */
    cert: Type.Optional(Type.String({ minLength: 1 })),
    /** PEM private key file. */
    key: Type.Optional(Type.String({ minLength: 1 })),
    /** PEM CA bundle file that client certificates must chain to (mutual TLS). */
    clientCa: Type.Optional(Type.String({ minLength: 1 })),
    /** true: the TLS handshake fails without a valid client certificate (no Bearer-only clients). */
    requireClientCert: Type.Boolean({ default: false }),
    minVersion: lit(['TLSv1.2', 'TLSv1.3'] as const, { default: 'TLSv1.2' }),
    /** Client certificates that identify MTAs: by subject fields or by SHA-256 fingerprint. */
    clientIdentities: Type.Array(
      Type.Object({
        identity: Type.String({ minLength: 1 }),
        subject: Type.Optional(
          Type.String({
            minLength: 3,
            pattern: '^[^=,]+=[^,]*(,[^=,]+=[^,]*)*$',
            description: 'K=V pairs separated by commas, e.g. CN=mx1.example.com,O=Example',
          }),
        ),
        fingerprint256: Type.Optional(
          Type.String({
            pattern: '^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$',
            description: 'a SHA-256 fingerprint in hex, colons optional',
          }),
        ),
      }),
      { default: [] },
    ),
  },
  { default: {} },
);
export type TlsConfig = Static<typeof TlsConfigSchema>;

/** Environment variables for these keys (file paths; mount certificates as Secrets). */
export const DRAFT01_ENV_KEYS = {
  HOOKGATE_TLS_CERT: 'tls.cert',
  HOOKGATE_TLS_KEY: 'tls.key',
  HOOKGATE_TLS_CLIENT_CA: 'tls.clientCa',
  HOOKGATE_DRAFT01_ENABLED: 'protocols.draft01.enabled',
  HOOKGATE_DRAFT01_BASE_PATH: 'protocols.draft01.basePath',
} as const;

function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** The rules a schema cannot express, for `tls` and `protocols.draft01`. */
export function checkDraft01AndTls(tls: TlsConfig, draft01: Draft01Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (Boolean(tls.cert) !== Boolean(tls.key))
    problems.push({ path: tls.cert ? 'tls.key' : 'tls.cert', reason: 'tls.cert and tls.key go together' });
  for (const k of ['cert', 'key', 'clientCa'] as const) {
    const p = tls[k];
    if (p && !readable(p)) problems.push({ path: `tls.${k}`, reason: `cannot read ${p}` });
  }
  if (tls.clientCa && !tls.cert)
    problems.push({ path: 'tls.clientCa', reason: 'mutual TLS needs tls.cert and tls.key (HTTPS)' });
  if (tls.requireClientCert && !tls.clientCa)
    problems.push({ path: 'tls.requireClientCert', reason: 'needs tls.clientCa' });
  if (tls.clientIdentities.length > 0 && !tls.clientCa)
    problems.push({
      path: 'tls.clientIdentities',
      reason: 'needs tls.clientCa (certificates must chain to it)',
    });
  tls.clientIdentities.forEach((c, i) => {
    if (!c.subject && !c.fingerprint256)
      problems.push({ path: `tls.clientIdentities.${i}`, reason: 'give subject or fingerprint256' });
  });
  if (draft01.graceMs >= draft01.registrationTtlMs)
    problems.push({ path: 'protocols.draft01.graceMs', reason: 'must be shorter than registrationTtlMs' });
  return problems;
}

/** HTTPS and mutual-TLS options for the ingress, read from the configured files; none without a certificate. */
export function ingressTls(tls: TlsConfig): Pick<IngressDeps, 'https' | 'clientCerts'> {
  if (!tls.cert || !tls.key) return {};
  return {
    https: {
      cert: readFileSync(tls.cert),
      key: readFileSync(tls.key),
      minVersion: tls.minVersion,
      ...(tls.clientCa
        ? {
            ca: readFileSync(tls.clientCa),
            requestCert: true,
            // Without requireClientCert, clients without a certificate still connect and authenticate by token;
            // a certificate only counts when it chains to the CA (checked per request).
            rejectUnauthorized: tls.requireClientCert,
          }
        : {}),
    },
    clientCerts: tls.clientIdentities.map((c) => ({
      identity: c.identity,
      ...(c.subject ? { subject: c.subject } : {}),
      ...(c.fingerprint256 ? { fingerprint256: c.fingerprint256 } : {}),
    })),
  };
}

/** The draft-01 dependencies of the ingress: Redis-backed registrations and dedupe on the store connection. */
export function draft01Deps(
  draft01: Draft01Config,
  opts: {
    redis: RedisClient;
    prefix: string;
    maxBodyBytes: number;
    mtaTimeoutMs: number;
    replies: DefaultReplies;
    reasonHeader: boolean;
  },
): Draft01Deps | undefined {
  if (!draft01.enabled) return undefined;
  return {
    registrations: new RegistrationStore(opts.redis, {
      prefix: opts.prefix,
      graceMs: draft01.graceMs,
      tombstoneMs: draft01.tombstoneMs,
    }),
    dedupe: new DedupeStore(opts.redis, { prefix: opts.prefix, windowMs: draft01.dedupeWindowMs }),
    settings: {
      basePath: draft01.basePath,
      maxMessageSize: draft01.maxMessageSize ?? opts.maxBodyBytes,
      maxRegistrations: draft01.maxRegistrations,
      registrationTtlMs: draft01.registrationTtlMs,
      defaultTimeoutMs: opts.mtaTimeoutMs,
      maxInFlight: draft01.maxInFlight,
      maxInFlightPerRegistration: draft01.maxInFlightPerRegistration,
      registrationEnabled: draft01.registrationEnabled,
      allowedIdentities: draft01.allowedIdentities,
    },
    replies: opts.replies,
    reasonHeader: opts.reasonHeader,
  };
}
