import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { noopRegistration } from '@hookgate/scanner-sdk';
import { ConfigSchema, ENV_VARS, loadConfig } from '../src/config.js';
import { SCANNER_ENV, SCANNER_IDS, SCANNERS, WORKER_POOLS, scannerRegistry } from '../src/scanners.js';

const POLICY_KEYS = ['required', 'onError', 'onTimeout', 'onMissing', 'onUnscanned', 'concurrency'];

describe('scanners are listed once (src/scanners.ts) and everything else follows from the list', () => {
  it('the config has one section per registration: its own keys, then the failure policy, then queueShards when queued', () => {
    const sections = ConfigSchema.properties.scanners.properties as Record<
      string,
      { properties: Record<string, unknown> }
    >;
    expect(Object.keys(sections)).toEqual([...SCANNER_IDS]);
    for (const r of SCANNERS) {
      const own = Object.keys(r.schema.properties);
      expect(Object.keys(sections[r.id]!.properties), r.id).toEqual([
        ...own,
        ...POLICY_KEYS,
        ...(r.placement === 'queue' ? ['queueShards'] : []),
      ]);
    }
    const defaults = loadConfig({}).scanners;
    expect(SCANNERS.map((r) => [r.id, defaults[r.id].required])).toEqual(
      SCANNERS.map((r) => [r.id, r.required]),
    );
  });

  it('the registry has an entry per registration, in the same order, with its placement', () => {
    const registry = scannerRegistry(loadConfig({}));
    expect(registry.map((e) => [e.id, e.placement])).toEqual(SCANNERS.map((r) => [r.id, r.placement]));
    expect(registry.filter((e) => e.active).map((e) => e.id)).toEqual(['dlp']);
  });

  it('deployments run a pool for every queued scanner but the noop one', () => {
    expect(WORKER_POOLS).toEqual(
      SCANNERS.filter((r) => r.placement === 'queue' && r !== noopRegistration).map((r) => r.id),
    );
    expect(WORKER_POOLS).toEqual(['clamav', 'rspamd', 'spamd', 'dlp']);
  });

  it("takes each scanner's environment variables into the loader, under its own section", () => {
    expect(SCANNER_ENV).toEqual({
      HOOKGATE_CLAMD: { key: 'scanners.clamav.endpoint' },
      HOOKGATE_RSPAMD_URL: { key: 'scanners.rspamd.url' },
      HOOKGATE_RSPAMD_PASSWORD: { key: 'scanners.rspamd.password', file: true },
      HOOKGATE_SPAMD: { key: 'scanners.spamd.endpoint' },
    });
    for (const [name, v] of Object.entries(SCANNER_ENV)) expect(ENV_VARS[name], name).toEqual(v);
    expect(loadConfig({ HOOKGATE_SPAMD: '/run/spamd.sock' }).scanners.spamd.endpoint).toBe('/run/spamd.sock');
  });

  it("runs each scanner's own config rules, and keeps secrets out of the result cache's identity", () => {
    const version = (password: string) =>
      scannerRegistry(
        loadConfig({ HOOKGATE_RSPAMD_URL: 'http://127.0.0.1:11333', HOOKGATE_RSPAMD_PASSWORD: password }),
      ).find((e) => e.id === 'rspamd')!.configVersion;
    expect(version('first-secret')).toBe(version('second-secret'));
    const rules = {
      scanners: {
        dlp: { rules: [{ id: 'bad', pattern: '(' }] },
        clamav: { reply: { code: 451, text: 'x' } },
      },
    };
    expect(() => validate(rules)).toThrow(
      /scanners\.clamav\.reply\.code: must be 5xx[\s\S]*scanners\.dlp\.rules\.0\.pattern: invalid RE2 regex/,
    );
  });
});

function validate(raw: object): unknown {
  const dir = mkdtempSync(join(tmpdir(), 'hookgate-scanners-'));
  try {
    writeFileSync(join(dir, 'hookgate.json'), JSON.stringify(raw));
    return loadConfig({}, join(dir, 'hookgate.json'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
