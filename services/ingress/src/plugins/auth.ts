import { createHash, timingSafeEqual } from 'node:crypto';

/** Credentials the MTAs present; each maps to one identity (used for draft-01 registration binding). */
export interface AuthConfig {
  tokens: { identity: string; token: string }[];
  basic: { username: string; secret: string }[];
}

/** Constant-time comparison of secrets of any length (hash first so lengths don't leak). */
function same(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

export type AuthResult = { ok: true; identity: string } | { ok: false; reason: string };

/** Checks an Authorization header against configured Basic and Bearer credentials. */
export function authenticate(config: AuthConfig, header: string | undefined): AuthResult {
  if (config.tokens.length === 0 && config.basic.length === 0) return { ok: true, identity: 'anonymous' };
  if (!header) return { ok: false, reason: 'missing Authorization header' };
  const sp = header.indexOf(' ');
  const scheme = (sp > 0 ? header.slice(0, sp) : header).toLowerCase();
  const value = sp > 0 ? header.slice(sp + 1).trim() : '';
  if (scheme === 'bearer') {
    let found: string | undefined;
    for (const t of config.tokens) if (same(t.token, value)) found ??= t.identity; // no early exit: constant work
    return found ? { ok: true, identity: found } : { ok: false, reason: 'unknown bearer token' };
  }
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { ok: false, reason: 'malformed basic credentials' };
    const user = decoded.slice(0, colon);
    const secret = decoded.slice(colon + 1);
    let found: string | undefined;
    for (const b of config.basic) if (same(b.username, user) && same(b.secret, secret)) found ??= b.username;
    return found ? { ok: true, identity: found } : { ok: false, reason: 'wrong basic credentials' };
  }
  return { ok: false, reason: `unsupported authorization scheme` };
}
