/**
 * Transport security for draft-01 through the built executable: HTTPS with TLS 1.2 and 1.3 (nothing older), and
 * mutual TLS where a client certificate maps to an MTA identity, alone or with a Bearer token. Certificates are
 * generated for the run with the openssl CLI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type TLSSocket } from 'node:tls';
import { startRedis, freePort, type RedisDaemon } from '../support/daemons.js';
import { startHookgate, writeConfig, type HookgateProcess } from '../support/processes.js';
import { clean } from '../support/samples.js';
import { makeTestPki, type TestPki } from '../support/draft01-pki.js';
import {
  Draft01Client,
  draft01Request,
  draft01Transaction,
  type TlsClientOptions,
} from '../support/draft01-client.js';

let redis: RedisDaemon;
let pki: TestPki;
let hookgate: HookgateProcess;
let url: string;
let port: number;
let mx1: TlsClientOptions;
let mx2: TlsClientOptions;
const clients: Draft01Client[] = [];
const TOKEN = 'tok-tls-token-0123456789abcdef';

beforeAll(async () => {
  pki = makeTestPki();
  redis = await startRedis();
  const c1 = pki.client('mx1', '/CN=mx1.test.invalid/O=Hookgate Test');
  const c2 = pki.client('mx2', '/CN=mx2.test.invalid');
  mx1 = { ca: pki.ca.pem.cert, cert: c1.pem.cert, key: c1.pem.key };
  mx2 = { ca: pki.ca.pem.cert, cert: c2.pem.cert, key: c2.pem.key };
  const cfg = writeConfig(`
redis: { prefix: d1tls${process.pid} }
tls:
  cert: ${pki.server.cert}
  key: ${pki.server.key}
  clientCa: ${pki.ca.cert}
  clientIdentities:
    - { identity: mx1, subject: "CN=mx1.test.invalid,O=Hookgate Test" }
    - { identity: mx2, fingerprint256: "${c2.fingerprint256}" }
`);
  port = await freePort();
  hookgate = await startHookgate(['all'], {
    HOOKGATE_CONFIG: cfg,
    HOOKGATE_REDIS_URL: redis.url,
    HOOKGATE_LISTEN: `127.0.0.1:${port}`,
    HOOKGATE_AUTH_TOKENS: `tok-mta=${TOKEN}`,
  });
  url = /listening on (https:\/\/\S+)/.exec(hookgate.stderr())?.[1] ?? '';
});
afterAll(async () => {
  clients.forEach((c) => c.close());
  await hookgate?.stop('SIGTERM');
  await redis?.stop();
});

function client(tls: TlsClientOptions, token?: string): Draft01Client {
  const c = new Draft01Client({
    baseUrl: url,
    tls,
    ...(token ? { token } : {}),
    serialization: 'cbor',
    backoffMs: 10,
  });
  clients.push(c);
  return c;
}

function handshake(opts: {
  minVersion?: 'TLSv1' | 'TLSv1.2' | 'TLSv1.3';
  maxVersion?: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
}): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock: TLSSocket = connect(
      { host: '127.0.0.1', port, ca: pki.ca.pem.cert, servername: 'localhost', ...opts },
      () => {
        const v = sock.getProtocol() ?? '';
        sock.end();
        resolve(v);
      },
    );
    sock.on('error', reject);
  });
}

describe('HTTPS', () => {
  it('serves HTTPS when a certificate is configured, with TLS 1.2 and 1.3 and nothing older', async () => {
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await handshake({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' })).toBe('TLSv1.2');
    expect(await handshake({ minVersion: 'TLSv1.3' })).toBe('TLSv1.3');
    await expect(handshake({ minVersion: 'TLSv1', maxVersion: 'TLSv1.1' })).rejects.toThrow();
    // Plain HTTP on the TLS port gets nothing useful.
    const plain = await fetch(`http://127.0.0.1:${port}/.well-known/mta-hooks`).then(
      (r) => r.status,
      () => 'refused',
    );
    expect(plain).not.toBe(200);
  });

  it('discovery needs no credentials; a Bearer token alone still works (mTLS is optional)', async () => {
    const anon = client({ ca: pki.ca.pem.cert });
    expect((await anon.http('GET', '/.well-known/mta-hooks')).status).toBe(200);
    expect(
      (
        await anon.http('POST', '/mta-hooks/v1/registrations', {
          name: 'x',
          serialization: 'json',
          inbound: { stages: ['data'], properties: null },
        })
      ).status,
    ).toBe(401);
    const bearer = client({ ca: pki.ca.pem.cert }, TOKEN);
    const reg = await bearer.register();
    expect(reg.status).toBe('active');
    expect((await bearer.hook(draft01Request('connect'))).status).toBe(204);
    await bearer.deregister();
  });
});

describe('mutual TLS', () => {
  it('a client certificate alone identifies the MTA (by subject), and the full flow runs over it', async () => {
    const mta = client(mx1);
    await mta.register();
    const answers = [];
    for (const body of draft01Transaction({ clientPort: 43001 }, clean())) answers.push(await mta.hook(body));
    expect(answers.map((a) => a.status)).toEqual([204, 204, 204, 204, 204]);
    // A certificate mapped by fingerprint is another identity: not bound to mx1's registration.
    const other = client(mx2);
    other.discovery = mta.discovery;
    other.registration = mta.registration;
    expect((await other.hook(draft01Request('connect'))).error?.code).toBe('REGISTRATION_MISMATCH');
    expect((await other.register()).status).toBe('active');
    await other.deregister();
    await mta.deregister();
  });

  it('certificate and token must name the same identity; an untrusted certificate counts for nothing', async () => {
    const both = client(mx1, TOKEN);
    await expect(both.register()).rejects.toMatchObject({
      answer: { status: 401, body: { error: { code: 'INVALID_CREDENTIALS' } } },
    });
    const rogue = client({ ca: pki.ca.pem.cert, cert: pki.rogue.pem.cert, key: pki.rogue.pem.key });
    await expect(rogue.register()).rejects.toMatchObject({
      answer: { status: 401, body: { error: { code: 'AUTHENTICATION_REQUIRED' } } },
    });
    // The rogue certificate plus a valid token: the token decides.
    const rogueWithToken = client(
      { ca: pki.ca.pem.cert, cert: pki.rogue.pem.cert, key: pki.rogue.pem.key },
      TOKEN,
    );
    expect((await rogueWithToken.register()).status).toBe('active');
    await rogueWithToken.deregister();
  });
});
