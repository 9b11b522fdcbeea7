/**
 * A throwaway PKI for the draft-01 TLS tests, made with the `openssl` CLI in a temp dir: a test CA, a server
 * certificate for 127.0.0.1, client certificates for MTAs, and a "rogue" client certificate from another CA.
 * EC P-256 keys keep generation fast. Nothing is reused between runs.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { requireBinary, tempDir } from './daemons.js';

export interface CertFiles {
  cert: string;
  key: string;
  /** SHA-256 fingerprint as Node prints it (AB:CD:...). */
  fingerprint256: string;
  pem: { cert: Buffer; key: Buffer };
}

export interface TestPki {
  dir: string;
  ca: CertFiles;
  server: CertFiles;
  client(name: string, subject: string): CertFiles;
  /** A client certificate signed by a CA the server does not trust. */
  rogue: CertFiles;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function files(dir: string, name: string): CertFiles {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const pem = { cert: readFileSync(cert), key: readFileSync(key) };
  return { cert, key, pem, fingerprint256: new X509Certificate(pem.cert).fingerprint256 };
}

function selfSignedCa(dir: string, name: string, subject: string): CertFiles {
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '2',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-subj',
    subject,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return files(dir, name);
}

function issue(dir: string, ca: string, name: string, subject: string, ext: string): CertFiles {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    subject,
  ]);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    `${name}.crt`,
    '-extfile',
    `${name}.ext`,
  ]);
  return files(dir, name);
}

export function makeTestPki(): TestPki {
  requireBinary('openssl', 'openssl');
  const dir = tempDir('pki');
  const ca = selfSignedCa(dir, 'ca', '/CN=hookgate test CA');
  const server = issue(
    dir,
    'ca',
    'server',
    '/CN=127.0.0.1',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  selfSignedCa(dir, 'rogue-ca', '/CN=some other CA');
  const rogue = issue(
    dir,
    'rogue-ca',
    'rogue',
    '/CN=mx1.test.invalid/O=Hookgate Test',
    'extendedKeyUsage=clientAuth\n',
  );
  return {
    dir,
    ca,
    server,
    rogue,
    client: (name, subject) => issue(dir, 'ca', name, subject, 'extendedKeyUsage=clientAuth\n'),
  };
}
