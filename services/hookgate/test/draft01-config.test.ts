import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/config.js';
import { checkExposure } from '../src/roles.js';
import { draft01Deps, ingressTls } from '../src/draft01.js';
import { tempDir } from '../../../test/support/daemons.js';

const file = (text: string) => {
  const p = join(tempDir('config'), 'hookgate.yaml');
  writeFileSync(p, text);
  return p;
};

function problems(env: Record<string, string>, yaml = ''): string {
  try {
    loadConfig(env, yaml ? file(yaml) : undefined);
    return '';
  } catch (err) {
    return (err as Error).message;
  }
}

describe('protocols.draft01 and tls config', () => {
  it('has documented defaults: draft-01 on, plain HTTP', () => {
    const c = loadConfig({});
    expect(c.protocols.draft01).toEqual({
      enabled: true,
      basePath: '/mta-hooks/v1',
      registrationEnabled: true,
      registrationTtlMs: 86_400_000,
      graceMs: 30_000,
      tombstoneMs: 86_400_000,
      dedupeWindowMs: 600_000,
      maxRegistrations: 64,
      maxInFlight: 1024,
      maxInFlightPerRegistration: 256,
      allowedIdentities: [],
      quarantine: 'reject',
    });
    expect(c.tls).toEqual({ requireClientCert: false, minVersion: 'TLSv1.2', clientIdentities: [] });
    expect(ingressTls(c.tls)).toEqual({});
  });

  it('takes HOOKGATE_TLS_* and HOOKGATE_DRAFT01_* from the environment', () => {
    const dir = tempDir('tls');
    for (const f of ['c.pem', 'k.pem', 'ca.pem']) writeFileSync(join(dir, f), 'x');
    const c = loadConfig({
      HOOKGATE_TLS_CERT: join(dir, 'c.pem'),
      HOOKGATE_TLS_KEY: join(dir, 'k.pem'),
      HOOKGATE_TLS_CLIENT_CA: join(dir, 'ca.pem'),
      HOOKGATE_DRAFT01_ENABLED: 'false',
      HOOKGATE_DRAFT01_BASE_PATH: '/hooks/draft',
    });
    expect(c.tls).toMatchObject({
      cert: join(dir, 'c.pem'),
      key: join(dir, 'k.pem'),
      clientCa: join(dir, 'ca.pem'),
    });
    expect(c.protocols.draft01).toMatchObject({ enabled: false, basePath: '/hooks/draft' });
    expect(ingressTls(c.tls).https).toMatchObject({
      minVersion: 'TLSv1.2',
      requestCert: true,
      rejectUnauthorized: false,
    });
    expect(
      draft01Deps(c.protocols.draft01, {
        redis: {} as never,
        prefix: 'p',
        maxBodyBytes: 1,
        mtaTimeoutMs: 1,
        replies: c.verdict.replies,
        reasonHeader: false,
      }),
    ).toBeUndefined();
  });

  it('lists what a schema cannot check', () => {
    const msg = problems(
      { HOOKGATE_TLS_CERT: '/nonexistent/cert.pem' },
      `
tls:
  clientIdentities: [{ identity: a }]
  requireClientCert: true
`,
    );
    for (const p of [
      'tls.key',
      'tls.cert',
      'tls.requireClientCert',
      'tls.clientIdentities',
      'tls.clientIdentities.0',
    ])
      expect(msg).toContain(`- ${p}:`);
    expect(msg).toContain('cannot read /nonexistent/cert.pem');
    const grace = problems({}, 'protocols: { draft01: { graceMs: 120000, registrationTtlMs: 60000 } }');
    expect(grace).toContain('- protocols.draft01.graceMs: must be shorter than registrationTtlMs');
    expect(problems({}, 'protocols: { draft01: { basePath: "no-slash" } }')).toContain(
      '- protocols.draft01.basePath: must be a path such as /mta-hooks/v1',
    );
  });

  it('client certificate identities count as credentials for listening beyond loopback', () => {
    const dir = tempDir('tls');
    for (const f of ['c.pem', 'k.pem', 'ca.pem']) writeFileSync(join(dir, f), 'x');
    const c = loadConfig(
      { HOOKGATE_LISTEN: '0.0.0.0:8443' },
      file(`
tls: { cert: ${join(dir, 'c.pem')}, key: ${join(dir, 'k.pem')}, clientCa: ${join(dir, 'ca.pem')}, clientIdentities: [{ identity: mx1, subject: "CN=mx1" }] }
`),
    );
    expect(checkExposure(c)).toBeUndefined();
    expect(checkExposure(loadConfig({ HOOKGATE_LISTEN: '0.0.0.0:8443' }))).toMatch(/refusing/);
  });
});
