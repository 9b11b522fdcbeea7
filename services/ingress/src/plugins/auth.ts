import { hash, timingSafeEqual } from 'node:crypto';

/** Credentials the MTAs present; each maps to one identity (used for draft-01 registration binding). */
export interface AuthConfig {
  tokens: { identity: string; token: string }[];
  basic: { username: string; secret: string }[];
}

/** SHA-256 of a secret: equal-length values to compare in constant time, whatever the secrets' lengths. */
function digest(secret: string): Buffer {
  return hash('sha256', secret, 'buffer');
}

/** Configured credentials hashed once, not on every request (issue 12: two hashes per token per request). */
const digests = new WeakMap<object, Buffer[]>();
function digestsOf(entry: object, ...secrets: string[]): Buffer[] {
  let d = digests.get(entry);
  if (!d) digests.set(entry, (d = secrets.map(digest)));
  return d;
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
    const presented = digest(value);
    for (const t of config.tokens)
      if (timingSafeEqual(digestsOf(t, t.token)[0]!, presented)) found ??= t.identity; // no early exit: constant work
    return found ? { ok: true, identity: found } : { ok: false, reason: 'unknown bearer token' };
  }
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { ok: false, reason: 'malformed basic credentials' };
    const user = decoded.slice(0, colon);
    const secret = decoded.slice(colon + 1);
    let found: string | undefined;
    const [u, p] = [digest(user), digest(secret)];
    for (const b of config.basic) {
      const [du, dp] = digestsOf(b, b.username, b.secret) as [Buffer, Buffer];
      // Both compared every time: no early exit on the user name.
      const userOk = timingSafeEqual(du, u);
      const secretOk = timingSafeEqual(dp, p);
      if (userOk && secretOk) found ??= b.username;
    }
    return found ? { ok: true, identity: found } : { ok: false, reason: 'wrong basic credentials' };
  }
  return { ok: false, reason: `unsupported authorization scheme` };
}
