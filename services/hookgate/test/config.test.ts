import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setPath, unknownKeys } from '@hookgate/config';
import { checkEnvironment, ConfigSchema, ENV_VARS, KNOWN_ENV, loadConfig } from '../src/config.js';
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
    expect(
      scannerRegistry(c)
        .filter((s) => s.active)
        .map((s) => s.id),
    ).toEqual(['dlp']);
  });

  it('has connection limits with documented defaults, and refuses a header timeout above the request timeout (issue 11)', () => {
    expect(loadConfig({}).limits).toEqual({
      maxBodyBytes: 52_428_800,
      inFlightBytes: 536_870_912,
      inFlightBytesPerCaller: 134_217_728,
      maxConnections: 'auto',
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 120_000,
      bodyTimeoutMs: 10_000,
      minBodyBytesPerSec: 16_384,
      keepAliveTimeoutMs: 30_000,
      lingerMs: 2_000,
    });
    expect(loadConfig({}).milter).toMatchObject({
      negotiationTimeoutMs: 10_000,
      idleTimeoutMs: 900_000,
      maxConnections: 2000,
    });
    expect(loadConfig({}, file('limits: { maxConnections: 500 }')).limits.maxConnections).toBe(500);
    expect(() => loadConfig({}, file('limits: { maxConnections: lots }'))).toThrow(
      /- limits\.maxConnections:/,
    );
    expect(() =>
      loadConfig({}, file('limits: { headersTimeoutMs: 30000, requestTimeoutMs: 20000 }')),
    ).toThrow(/- limits\.headersTimeoutMs: must be at most limits\.requestTimeoutMs \(20000\)/);
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
    for (const path of [
      'listen',
      'limits.maxBodyBytes',
      'stages.deadlineMs.data',
      'scanners.clamav.action',
      'scanners.clamav.reply.code',
      'scanners.clamav.onError',
    ]) {
      expect(message).toContain(`- ${path}:`);
    }
    expect(message).toContain('- listen: must be host:port');
    expect(message).toContain('- scanners.clamav.action: must be one of reject, quarantine, discard');
  });

  it('queueShards: 1 by default on every queued scanner, 1–256, and unknown on the inline checks', () => {
    const c = loadConfig({});
    for (const id of ['clamav', 'dlp', 'rspamd', 'spamd', 'noop'] as const)
      expect(c.scanners[id].queueShards, id).toBe(1);
    const sharded = loadConfig(
      {},
      file('scanners: { clamav: { endpoint: "tcp://127.0.0.1:3310", queueShards: 6 } }'),
    );
    expect(scannerRegistry(sharded).find((e) => e.id === 'clamav')?.queueShards).toBe(6);
    expect(() => loadConfig({}, file('scanners: { dlp: { queueShards: 0 } }'))).toThrow(
      /- scanners\.dlp\.queueShards: Expected integer to be greater or equal to 1/,
    );
    expect(() => loadConfig({}, file('scanners: { rspamd: { queueShards: 257 } }'))).toThrow(
      /- scanners\.rspamd\.queueShards: Expected integer to be less or equal to 256/,
    );
    // Greylisting and rate limits run in the ingress: no queue to shard.
    expect(() => loadConfig({}, file('scanners: { greylist: { queueShards: 3 } }'))).toThrow(
      /scanners\.greylist\.queueShards: unknown key/,
    );
  });

  it('reports the semantic rules a schema cannot', () => {
    const p = file(`
stages: { deadlineMs: { data: 29000 } }
verdict: { replies: { tempfail: { code: 550, text: "x" } } }
redis: { url: "redis://a", cluster: ["b:1"] }
`);
    expect(() => loadConfig({}, p)).toThrow(
      /stages\.deadlineMs\.data: must be at most mtaTimeoutMs - marginMs \(28000\)[\s\S]*verdict\.replies\.tempfail\.code: must be 4xx/,
    );
    expect(() => loadConfig({}, p)).toThrow(/redis: set only one of url, cluster, sentinels/);
  });

  it('explains an unreadable or unparsable file', () => {
    expect(() => loadConfig({}, '/nonexistent/hookgate.yaml')).toThrow(/cannot read file: ENOENT/);
    expect(() => loadConfig({}, file('listen: [unclosed'))).toThrow(/not valid YAML/);
  });

  it('applies the HOOKGATE_* environment over the file', () => {
    const p = file('listen: 127.0.0.1:9000\nscanners: { clamav: { endpoint: /run/clamd.sock } }\n');
    const c = loadConfig(
      {
        HOOKGATE_LISTEN: '0.0.0.0:8081',
        HOOKGATE_REDIS_URL: 'redis://127.0.0.1:7000',
        HOOKGATE_CLAMD: 'tcp://127.0.0.1:3310',
        HOOKGATE_AUTH_TOKENS: 'stalwart-1=abcdefghijklmnopqrstuvwxyz012345,zyxwvutsrqponmlkjihgfedcba543210',
        HOOKGATE_AUTH_BASIC: 'stalwart:s3cret-pass,other:another-secret',
        HOOKGATE_LOG_LEVEL: 'debug',
      },
      p,
    );
    expect(c.listen).toBe('0.0.0.0:8081');
    expect(c.redis.url).toBe('redis://127.0.0.1:7000');
    expect(c.scanners.clamav.endpoint).toBe('tcp://127.0.0.1:3310');
    expect(c.auth.tokens).toEqual([
      { identity: 'stalwart-1', token: 'abcdefghijklmnopqrstuvwxyz012345' },
      { identity: 'token-2', token: 'zyxwvutsrqponmlkjihgfedcba543210' },
    ]);
    expect(c.auth.basic).toEqual([
      { username: 'stalwart', secret: 's3cret-pass' },
      { username: 'other', secret: 'another-secret' },
    ]);
    expect(c.log.level).toBe('debug');
    expect(scannerRegistry(c).find((s) => s.id === 'clamav')).toMatchObject({
      active: true,
      why: 'clamd at tcp://127.0.0.1:3310',
    });
  });

  it('rejects malformed environment values by name', () => {
    expect(() => loadConfig({ HOOKGATE_AUTH_BASIC: 'no-colon-here' })).toThrow(
      /HOOKGATE_AUTH_BASIC: each entry must be user:secret/,
    );
    expect(() => loadConfig({ HOOKGATE_AUTH_TOKENS: 'short' })).toThrow(/auth\.tokens\.0\.token/);
  });

  it('refuses to listen beyond loopback without auth unless told to', () => {
    expect(checkExposure(loadConfig({}))).toBeUndefined();
    expect(checkExposure(loadConfig({ HOOKGATE_LISTEN: '0.0.0.0:8080' }))).toMatch(
      /refusing to listen on 0\.0\.0\.0:8080 without authentication/,
    );
    expect(
      checkExposure(loadConfig({ HOOKGATE_LISTEN: '0.0.0.0:8080', HOOKGATE_ALLOW_UNAUTHENTICATED: 'true' })),
    ).toBeUndefined();
    expect(
      checkExposure(loadConfig({ HOOKGATE_LISTEN: '[::]:8080', HOOKGATE_AUTH_BASIC: 'u:longenough' })),
    ).toBeUndefined();
    expect(checkExposure(loadConfig({ HOOKGATE_LISTEN: '[::1]:8080' }))).toBeUndefined();
  });
});

/** The problems loadConfig reports for a file, as `path: reason` lines. */
function problemsOf(yaml: string, env: Record<string, string> = {}): string[] {
  try {
    loadConfig(env, file(yaml));
  } catch (err) {
    return (
      (err as { problems?: { path: string; reason: string }[] }).problems?.map(
        (p) => `${p.path}: ${p.reason}`,
      ) ?? [String(err)]
    );
  }
  return [];
}

describe('unknown config keys', () => {
  it('names a top-level typo and the key it probably meant', () => {
    expect(problemsOf('scaners: { clamav: { endpoint: /run/clamd.sock } }\n')).toEqual([
      'scaners: unknown key; did you mean scanners?',
    ]);
    let message = '';
    try {
      loadConfig({}, file('scaners: {}\n'));
    } catch (err) {
      message = (err as Error).message;
      expect((err as { code: string }).code).toBe('HOOKGATE_ERR_CONFIG_INVALID');
    }
    expect(message).toMatch(
      /^invalid configuration \(.*hookgate\.yaml \+ environment\):\n {2}- scaners: unknown key; did you mean scanners\?$/,
    );
  });

  it('names nested typos by full path, in the schemas of every package', () => {
    expect(problemsOf('scanners: { clamv: { endpoint: /run/clamd.sock } }\n')).toEqual([
      'scanners.clamv: unknown key; did you mean scanners.clamav?',
    ]);
    expect(problemsOf('stages: { deadlineMs: { dta: 1000 } }\n')).toEqual([
      'stages.deadlineMs.dta: unknown key; did you mean stages.deadlineMs.data?',
    ]);
    expect(problemsOf('scanners: { clamav: { endpoint: /s, onTimout: accept } }\n')).toEqual([
      'scanners.clamav.onTimout: unknown key; did you mean scanners.clamav.onTimeout?',
    ]);
    // Package schemas: milter, scanner-spam, scanner-dlp, draft-01 and TLS.
    expect(problemsOf('milter: { listn: "127.0.0.1:11332" }\n')).toEqual([
      'milter.listn: unknown key; did you mean milter.listen?',
    ]);
    expect(problemsOf('scanners: { rspamd: { urls: "http://127.0.0.1:11333" } }\n')).toEqual([
      'scanners.rspamd.urls: unknown key; did you mean scanners.rspamd.url?',
    ]);
    expect(problemsOf('scanners: { spamd: { spamHeader: { name: X-Spam, vaule: yes } } }\n')).toEqual([
      'scanners.spamd.spamHeader.vaule: unknown key; did you mean scanners.spamd.spamHeader.value?',
    ]);
    expect(
      problemsOf(
        'scanners: { dlp: { detectors: { pci.crad: { enabled: false } }, rules: [{ id: a, keywords: [x], severty: high }] } }\n',
      ),
    ).toEqual([
      'scanners.dlp.detectors.pci.crad: unknown key; did you mean scanners.dlp.detectors.pci.card?',
      'scanners.dlp.rules.0.severty: unknown key; did you mean scanners.dlp.rules.0.severity?',
    ]);
    expect(problemsOf('protocols: { draft01: { basepath: /x } }\ntls: { minVerison: TLSv1.3 }\n')).toEqual([
      'protocols.draft01.basepath: unknown key; did you mean protocols.draft01.basePath?',
      'tls.minVerison: unknown key; did you mean tls.minVersion?',
    ]);
    expect(
      problemsOf('rules: [{ name: r, policy: default, match: { senderDomain: [example.com] } }]\n'),
    ).toEqual(['rules.0.match.senderDomain: unknown key; did you mean rules.0.match.senderDomains?']);
  });

  it("names the known keys when nothing is close (the issue's scanners.nosuch)", () => {
    expect(problemsOf('scanners: { nosuch: 1 }\n')).toEqual([
      'scanners.nosuch: unknown key; known here: clamav, rspamd, spamd, dlp, greylist, ratelimit, noop',
    ]);
  });

  it('accepts any name inside the deliberately open records, and checks scanner ids there by meaning', () => {
    const c = loadConfig(
      {},
      file(`
policies:
  strict-inbound: { scanners: { clamav: { required: true } }, spam: { mode: score, rejectAt: 15, weights: { rspamd: 1.5, spamd: 0.5 } } }
rules: [{ name: r, policy: strict-inbound, match: { direction: inbound } }]
`),
    );
    expect(Object.keys(c.policies).sort()).toEqual(['default', 'strict-inbound']);
    expect(c.policies['strict-inbound']!.spam.weights).toEqual({ rspamd: 1.5, spamd: 0.5 });
    expect(
      problemsOf(
        'policies: { default: { scanners: { clamv: { enabled: false } }, spam: { weights: { rspamdd: 2 } } } }\n',
      ),
    ).toEqual([
      'policies.default.scanners.clamv: unknown scanner; did you mean clamav? known: clamav, rspamd, spamd, dlp, greylist, ratelimit, noop',
      'policies.default.spam.weights.rspamdd: unknown scanner; did you mean rspamd? known: clamav, rspamd, spamd, dlp, greylist, ratelimit, noop',
    ]);
    expect(problemsOf('policies: { "no spaces": {} }\n')).toEqual([
      'policies.no spaces: not an allowed name (must match ^[A-Za-z0-9_.-]+$)',
    ]);
  });

  it('lists every unknown key at once, together with the other problems', () => {
    expect(
      problemsOf(`
scaners: {}
listen: nope
stages: { deadlineMs: { dta: 1000 }, marginMS: 10 }
scanners: { clamav: { endpoint: /s, action: maybe, chunkbytes: 4096 } }
`),
    ).toEqual([
      'scaners: unknown key; did you mean scanners?',
      'stages.deadlineMs.dta: unknown key; did you mean stages.deadlineMs.data?',
      'stages.marginMS: unknown key; did you mean stages.marginMs?',
      'scanners.clamav.chunkbytes: unknown key; did you mean scanners.clamav.chunkBytes?',
      'listen: must be host:port, e.g. 127.0.0.1:8080 or [::]:8080',
      'scanners.clamav.action: must be one of reject, quarantine, discard',
    ]);
  });

  it('knows every key the environment sets', () => {
    const raw: Record<string, unknown> = {};
    for (const v of Object.values(ENV_VARS)) setPath(raw, v.key, 'x');
    expect(unknownKeys(ConfigSchema, raw)).toEqual([]);
  });
});

describe('unknown HOOKGATE_* environment variables', () => {
  it('are warned about with the closest known name, and do not stop the config from loading', () => {
    const env = {
      HOOKGATE_FOO: '1',
      HOOKGATE_CLAMAV: 'tcp://127.0.0.1:3310',
      HOOKGATE_REDIS_URI: 'redis://127.0.0.1:6390',
      HOOKGATE_LISTEN: '127.0.0.1:8081',
      NOT_OURS: '1',
    };
    expect(checkEnvironment(env)).toEqual([
      { path: 'HOOKGATE_CLAMAV', reason: 'unknown variable, ignored; did you mean HOOKGATE_CLAMD?' },
      { path: 'HOOKGATE_FOO', reason: 'unknown variable, ignored' },
      { path: 'HOOKGATE_REDIS_URI', reason: 'unknown variable, ignored; did you mean HOOKGATE_REDIS_URL?' },
    ]);
    const c = loadConfig(env);
    expect(c.listen).toBe('127.0.0.1:8081');
    expect(c.scanners.clamav.endpoint).toBeUndefined();
  });

  it('know every variable hookgate reads: secrets with _FILE, the config file, and draft-01/TLS ones', () => {
    expect(checkEnvironment(Object.fromEntries(KNOWN_ENV.map((n) => [n, 'x'])))).toEqual([]);
    for (const n of [
      'HOOKGATE_CONFIG',
      'HOOKGATE_AUTH_TOKENS_FILE',
      'HOOKGATE_REDIS_PASSWORD_FILE',
      'HOOKGATE_TLS_CLIENT_CA',
      'HOOKGATE_MILTER_LISTEN',
    ])
      expect(KNOWN_ENV).toContain(n);
    expect(checkEnvironment({ HOOKGATE_CLAMD_FILE: '/x' })).toEqual([
      { path: 'HOOKGATE_CLAMD_FILE', reason: 'unknown variable, ignored; did you mean HOOKGATE_CLAMD?' },
    ]);
  });

  // One list: a variable named anywhere in the code, the deployment files, the docs or the test support must be in it,
  // or operators who set it would be warned that it is ignored.
  it('include every HOOKGATE_* variable the repository names', () => {
    // Names that are not environment variables: constants, and rspamd --var macros of the test fixtures.
    const notVariables = new Set([
      'HOOKGATE_BIN',
      'HOOKGATE_UID',
      'HOOKGATE_NORMAL',
      'HOOKGATE_CONTROLLER',
      'HOOKGATE_PROXY',
      'HOOKGATE_DNS',
    ]);
    const files: string[] = [];
    const walk = (p: string): void => {
      if (!existsSync(p) || /(^|\/)(node_modules|dist|rendered|\.results)$/.test(p)) return;
      if (statSync(p).isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
      else if (/\.(ts|js|ya?ml|md|sh|conf|env)$|Dockerfile$/.test(p)) files.push(p);
    };
    for (const top of [
      'services',
      'libs',
      'deploy',
      'docs',
      'test/support',
      'README.md',
      'docker-compose.yml',
    ])
      walk(top);
    const named = new Set<string>();
    for (const f of files.filter((f) => !/\/test\//.test(f) || f.startsWith('test/support/'))) {
      for (const m of readFileSync(f, 'utf8').matchAll(/\bHOOKGATE_[A-Z0-9_]*[A-Z0-9]\b/g))
        if (!m[0].startsWith('HOOKGATE_ERR_') && !notVariables.has(m[0])) named.add(m[0]);
    }
    expect(named.size).toBeGreaterThan(20);
    expect([...named].filter((n) => !KNOWN_ENV.includes(n))).toEqual([]);
  });
});

describe('quarantine and console config (issue 16)', () => {
  it('has documented defaults: Redis store, 7 days, 256 MiB, reject naming the item on every protocol, console at /console', () => {
    const c = loadConfig({});
    expect(c.quarantine).toEqual({
      store: 'redis',
      retentionMs: 604_800_000,
      maxBytes: 268_435_456,
      relayTimeoutMs: 30_000,
      reply: { code: 550, enhanced: '5.7.1', text: 'Message quarantined as {id}' },
    });
    expect([c.protocols.stalwart.quarantine, c.protocols.draft01.quarantine, c.milter.quarantine]).toEqual([
      'reject',
      'reject',
      'reject',
    ]);
    expect(c.console).toEqual({ enabled: true, path: '/console', feedEntries: 5000 });
  });

  it('takes the release relay from HOOKGATE_QUARANTINE_RELAY (or a file) and names what is wrong', () => {
    expect(loadConfig({ HOOKGATE_QUARANTINE_RELAY: 'smtp://127.0.0.1:2525' }).quarantine.relay).toBe(
      'smtp://127.0.0.1:2525',
    );
    const secret = join(tempDir('relay'), 'relay');
    writeFileSync(secret, 'smtps://user:pw@relay.example:465\n');
    expect(loadConfig({ HOOKGATE_QUARANTINE_RELAY_FILE: secret }).quarantine.relay).toBe(
      'smtps://user:pw@relay.example:465',
    );
    expect(() => loadConfig({ HOOKGATE_QUARANTINE_RELAY: 'http://relay' })).toThrow(/quarantine\.relay/);
    expect(() => loadConfig({}, file('quarantine: { store: filesystem }\n'))).toThrow(
      /quarantine\.directory: required with quarantine\.store: filesystem/,
    );
    expect(() => loadConfig({}, file('quarantine: { reply: { code: 450, text: "x {id}" } }\n'))).toThrow(
      /quarantine\.reply\.code: must be 5xx/,
    );
    expect(() => loadConfig({}, file('milter: { quarantine: keep }\n'))).toThrow(/milter\.quarantine/);
    expect(() => loadConfig({}, file('console: { path: "no-slash" }\n'))).toThrow(/console\.path/);
  });
});
