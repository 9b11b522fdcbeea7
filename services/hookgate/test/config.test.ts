import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/config.js';
import { scannerRegistry } from '../src/scanners.js';
import { checkExposure } from '../src/roles.js';
import { tempDir } from '../../../test/support/daemons.js';

const file = (text: string) => {
  const p = join(tempDir('config'), 'hookgate.yaml');
  writeFileSync(p, text);
  return p;
};

describe('config', () => {
  it('works with no file at all, on documented defaults', () => {
    const c = loadConfig({});
    expect(c.listen).toBe('127.0.0.1:8080');
    expect(c.limits.maxBodyBytes).toBe(52_428_800);
    expect(c.stages.deadlineMs.data).toBe(20_000);
    expect(c.stages.deadlineMs.rcpt).toBe(5_000);
    expect(c.verdict.severity).toEqual(['reject', 'discard', 'tempfail', 'quarantine', 'accept']);
    // Only the built-in DLP scanner needs no engine, so it is the only one active by default.
    expect(scannerRegistry(c).filter((s) => s.active).map((s) => s.id)).toEqual(['dlp']);
  });

  it('has connection limits with documented defaults, and refuses a header timeout above the request timeout (issue 11)', () => {
    expect(loadConfig({}).limits).toEqual({
      maxBodyBytes: 52_428_800,
      maxConnections: 'auto',
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 120_000,
      bodyTimeoutMs: 10_000,
      minBodyBytesPerSec: 16_384,
      keepAliveTimeoutMs: 30_000,
      lingerMs: 2_000,
    });
    expect(loadConfig({}).milter).toMatchObject({ negotiationTimeoutMs: 10_000, idleTimeoutMs: 900_000, maxConnections: 2000 });
    expect(loadConfig({}, file('limits: { maxConnections: 500 }')).limits.maxConnections).toBe(500);
    expect(() => loadConfig({}, file('limits: { maxConnections: lots }'))).toThrow(/- limits\.maxConnections:/);
    expect(() => loadConfig({}, file('limits: { headersTimeoutMs: 30000, requestTimeoutMs: 20000 }'))).toThrow(/- limits\.headersTimeoutMs: must be at most limits\.requestTimeoutMs \(20000\)/);
  });

  it('loads the commented example config', () => {
    const c = loadConfig({}, 'deploy/config/hookgate.example.yaml');
    expect(c.scanners.clamav.endpoint).toBe('tcp://127.0.0.1:3310');
  });

  it('lists every problem with its key path', () => {
    const p = file(`
listen: "not an address"
limits: { maxBodyBytes: "lots" }
stages: { deadlineMs: { data: 50 } }
scanners:
  clamav: { action: explode, reply: { code: 99, text: "ok" }, onError: maybe }
verdict: { replies: { tempfail: { code: 550, text: "x" } } }
`);
    let message = '';
    try {
      loadConfig({}, p);
    } catch (err) {
      message = (err as Error).message;
      expect((err as { code: string }).code).toBe('HOOKGATE_ERR_CONFIG_INVALID');
    }
    for (const path of ['listen', 'limits.maxBodyBytes', 'stages.deadlineMs.data', 'scanners.clamav.action', 'scanners.clamav.reply.code', 'scanners.clamav.onError']) {
      expect(message).toContain(`- ${path}:`);
    }
    expect(message).toContain('- listen: must be host:port');
    expect(message).toContain('- scanners.clamav.action: must be one of reject, quarantine, discard');
  });

  it('reports the semantic rules a schema cannot', () => {
    const p = file(`
stages: { deadlineMs: { data: 29000 } }
verdict: { replies: { tempfail: { code: 550, text: "x" } } }
redis: { url: "redis://a", cluster: ["b:1"] }
`);
    expect(() => loadConfig({}, p)).toThrow(/stages\.deadlineMs\.data: must be at most mtaTimeoutMs - marginMs \(28000\)[\s\S]*verdict\.replies\.tempfail\.code: must be 4xx/);
    expect(() => loadConfig({}, p)).toThrow(/redis: set only one of url, cluster, sentinels/);
  });

  it('explains an unreadable or unparsable file', () => {
    expect(() => loadConfig({}, '/nonexistent/hookgate.yaml')).toThrow(/cannot read file: ENOENT/);
    expect(() => loadConfig({}, file('listen: [unclosed'))).toThrow(/not valid YAML/);
  });

  it('applies the HOOKGATE_* environment over the file', () => {
    const p = file('listen: 127.0.0.1:9000\nscanners: { clamav: { endpoint: /run/clamd.sock } }\n');
    const c = loadConfig({
      HOOKGATE_LISTEN: '0.0.0.0:8081',
      HOOKGATE_REDIS_URL: 'redis://127.0.0.1:7000',
      HOOKGATE_CLAMD: 'tcp://127.0.0.1:3310',
      HOOKGATE_AUTH_TOKENS: 'stalwart-1=abcdefghijklmnopqrstuvwxyz012345,zyxwvutsrqponmlkjihgfedcba543210',
      HOOKGATE_AUTH_BASIC: 'stalwart:s3cret-pass,other:another-secret',
      HOOKGATE_LOG_LEVEL: 'debug',
    }, p);
    expect(c.listen).toBe('0.0.0.0:8081');
    expect(c.redis.url).toBe('redis://127.0.0.1:7000');
    expect(c.scanners.clamav.endpoint).toBe('tcp://127.0.0.1:3310');
    expect(c.auth.tokens).toEqual([
      { identity: 'stalwart-1', token: 'abcdefghijklmnopqrstuvwxyz012345' },
      { identity: 'token-2', token: 'zyxwvutsrqponmlkjihgfedcba543210' },
    ]);
    expect(c.auth.basic).toEqual([{ username: 'stalwart', secret: 's3cret-pass' }, { username: 'other', secret: 'another-secret' }]);
    expect(c.log.level).toBe('debug');
    expect(scannerRegistry(c).find((s) => s.id === 'clamav')).toMatchObject({ active: true, why: 'clamd at tcp://127.0.0.1:3310' });
  });

  it('rejects malformed environment values by name', () => {
    expect(() => loadConfig({ HOOKGATE_AUTH_BASIC: 'no-colon-here' })).toThrow(/HOOKGATE_AUTH_BASIC: each entry must be user:secret/);
    expect(() => loadConfig({ HOOKGATE_AUTH_TOKENS: 'short' })).toThrow(/auth\.tokens\.0\.token/);
  });


  it('refuses to listen beyond loopback without auth unless told to', () => {
    expect(checkExposure(loadConfig({}))).toBeUndefined();
    expect(checkExposure(loadConfig({ HOOKGATE_LISTEN: '0.0.0.0:8080' }))).toMatch(/refusing to listen on 0\.0\.0\.0:8080 without authentication/);
    expect(checkExposure(loadConfig({ HOOKGATE_LISTEN: '0.0.0.0:8080', HOOKGATE_ALLOW_UNAUTHENTICATED: 'true' }))).toBeUndefined();
    expect(checkExposure(loadConfig({ HOOKGATE_LISTEN: '[::]:8080', HOOKGATE_AUTH_BASIC: 'u:longenough' }))).toBeUndefined();
    expect(checkExposure(loadConfig({ HOOKGATE_LISTEN: '[::1]:8080' }))).toBeUndefined();
  });
});
