/**
 * Who is calling: the MTA identity behind a request, from a Bearer/Basic credential, from a verified TLS client
 * certificate (mutual TLS), or from both (then they must name the same identity). The identity is exposed as
 * `request.mtaIdentity`; draft-01 binds every registration to the identity that created it.
 */
import type { Socket } from 'node:net';
import type { TLSSocket, PeerCertificate } from 'node:tls';
import { authenticate, type AuthConfig, type AuthResult } from './auth.js';

/** Who a request counts against for per-caller limits: the MTA identity, or the client address without one. */
export function callerOf(req: { mtaIdentity: string; ip: string }): string {
  return req.mtaIdentity === 'anonymous' ? `ip:${req.ip}` : `id:${req.mtaIdentity}`;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated MTA identity (`anonymous` when no credentials are configured at all). */
    mtaIdentity: string;
    /** Epoch ms when the request arrived (onRequest): stage deadlines count from here, body reading included. */
    receivedAt: number;
  }
}

/**
 * A client certificate that identifies an MTA. The certificate must chain to the configured client CA; then it
 * matches by its SHA-256 fingerprint (exact, stable across nothing: a new certificate needs a new entry) or by
 * subject fields (stable across re-issued certificates, e.g. `CN=mx1.example.com,O=Example`).
 */
export interface ClientCertIdentity {
  identity: string;
  /** `K=V` pairs separated by commas; every pair must equal the certificate subject's field. No escaping. */
  subject?: string;
  /** SHA-256 fingerprint, hex, with or without colons, any case. */
  fingerprint256?: string;
}

function normFingerprint(f: string): string {
  return f.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
}

function parseSubject(s: string): [string, string][] {
  return s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const eq = p.indexOf('=');
      return [p.slice(0, eq).trim(), p.slice(eq + 1).trim()] as [string, string];
    });
}

function subjectMatches(cert: PeerCertificate, wanted: string): boolean {
  const pairs = parseSubject(wanted);
  if (pairs.length === 0) return false;
  const subject = cert.subject as unknown as Record<string, string | string[] | undefined> | undefined;
  if (!subject) return false;
  return pairs.every(([k, v]) => {
    const have = subject[k];
    return Array.isArray(have) ? have.includes(v) : have === v;
  });
}

/**
 * The identity of a verified client certificate on `socket`, if it maps to one. Unverified certificates (not from
 * the client CA) and plain TCP connections give undefined.
 */
export function certificateIdentity(
  socket: Socket,
  identities: readonly ClientCertIdentity[],
): string | undefined {
  if (identities.length === 0) return undefined;
  const tls = socket as Partial<TLSSocket>;
  if (!tls.encrypted || !tls.authorized || typeof tls.getPeerCertificate !== 'function') return undefined;
  const cert = tls.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return undefined;
  const fp = cert.fingerprint256 ? normFingerprint(cert.fingerprint256) : '';
  for (const id of identities) {
    if (id.fingerprint256 && fp && normFingerprint(id.fingerprint256) === fp) return id.identity;
    if (id.subject && subjectMatches(cert, id.subject)) return id.identity;
  }
  return undefined;
}

/**
 * Authenticates a request by its Authorization header and/or its client certificate:
 * - nothing configured at all (no tokens, no basic, no certificate identities): `anonymous`;
 * - a credential in the header is checked first and must be valid;
 * - a mapped client certificate alone is enough;
 * - header and certificate together must name the same identity.
 */
export function authenticateRequest(
  config: AuthConfig,
  certs: readonly ClientCertIdentity[],
  header: string | undefined,
  socket: Socket,
): AuthResult {
  const secrets = config.tokens.length > 0 || config.basic.length > 0;
  if (!secrets && certs.length === 0) return { ok: true, identity: 'anonymous' };
  const fromCert = certificateIdentity(socket, certs);
  if (header && secrets) {
    const r = authenticate(config, header);
    if (!r.ok) return r;
    if (fromCert !== undefined && fromCert !== r.identity)
      return { ok: false, reason: 'client certificate and credential name different identities' };
    return r;
  }
  if (fromCert !== undefined) return { ok: true, identity: fromCert };
  return {
    ok: false,
    reason: header
      ? 'credentials given but only client certificates are configured'
      : 'no credentials and no recognised client certificate',
  };
}
