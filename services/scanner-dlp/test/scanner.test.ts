import { describe, expect, it } from 'vitest';
import { dlpScanner, resolveDlpConfig, type DlpScannerConfig } from '@hookgate/scanner-dlp';
import { context, eml, leaf, memoryLog, multipart, request, textMessage } from './support.js';

const scannerWith = (config: unknown = {}) => dlpScanner(resolveDlpConfig(config));
const CARDS = 'Cards 4111 1111 1111 1111 and 5555-5555-5555-4444, IBAN GB82 WEST 1234 5698 7654 32.';

async function scan(config: unknown, message: Uint8Array, opts: { auth?: boolean } = {}) {
  return scannerWith(config).scan({ request: request(opts), message }, context());
}

describe('dlpScanner', () => {
  it('is the built-in dlp scanner on the data stage by default', () => {
    const s = scannerWith();
    expect(s.id).toBe('dlp');
    expect(s.kind).toBe('dlp');
    expect(s.stages).toEqual(['data']);
    expect(s.describe?.()).toBe('built-in DLP (10 detectors, 0 operator rules)');
    expect(scannerWith({ stages: ['data', 'dsn', 'delivery'] }).stages).toEqual(['data', 'dsn', 'delivery']);
  });

  it('skips requests without a message and directions that are off', () => {
    const s = scannerWith({ enforce: { inbound: 'off' } });
    expect(s.shouldScan?.({ request: request() })).toBe('no message at this stage');
    expect(s.shouldScan?.({ request: request(), message: textMessage('x') })).toBe(
      'DLP is off for inbound mail',
    );
    expect(s.shouldScan?.({ request: request({ auth: true }), message: textMessage('x') })).toBeNull();
  });

  it('passes a clean message with nothing added', async () => {
    expect(await scan({}, textMessage('Lunch at noon? Order #1234567.'), { auth: true })).toEqual({
      status: 'pass',
    });
    expect(await scan({}, textMessage('Lunch at noon?'))).toEqual({ status: 'pass' });
  });

  it('rejects outbound (authenticated) mail, naming the rule', async () => {
    const outcome = await scan({}, textMessage('Card 4111 1111 1111 1111'), { auth: true });
    expect(outcome).toEqual({
      status: 'fail',
      category: 'dlp',
      action: 'reject',
      names: ['pci.card'],
      reply: {
        code: 550,
        enhanced: '5.7.1',
        text: 'Message blocked by data loss prevention policy (rule pci.card)',
      },
    });
  });

  it('names every enforced rule in the reply', async () => {
    const outcome = await scan({}, textMessage(CARDS), { auth: true });
    expect(outcome).toMatchObject({ status: 'fail', names: ['pci.card', 'iban'] });
    expect(outcome.status === 'fail' && outcome.reply?.text).toBe(
      'Message blocked by data loss prevention policy (rules pci.card, iban)',
    );
  });

  it('adds an advisory header to inbound mail', async () => {
    expect(await scan({}, textMessage(CARDS))).toEqual({
      status: 'pass',
      modifications: [{ type: 'addHeader', name: 'X-Hookgate-DLP', value: 'pci.card=2, iban=1' }],
    });
    expect(await scan({ header: { name: 'X-DLP-Findings' } }, textMessage(CARDS))).toMatchObject({
      modifications: [{ type: 'addHeader', name: 'X-DLP-Findings', value: 'pci.card=2, iban=1' }],
    });
    expect(await scan({ header: null }, textMessage(CARDS))).toEqual({ status: 'pass' });
  });

  it('follows the configured mode per direction', async () => {
    const quarantine = await scan({ enforce: { inbound: 'quarantine' } }, textMessage(CARDS));
    expect(quarantine).toEqual({
      status: 'fail',
      category: 'dlp',
      action: 'quarantine',
      names: ['pci.card', 'iban'],
      modifications: [{ type: 'addHeader', name: 'X-Hookgate-DLP', value: 'pci.card=2, iban=1' }],
    });
    expect(
      await scan({ enforce: { outbound: 'advisory' } }, textMessage(CARDS), { auth: true }),
    ).toMatchObject({ status: 'pass' });
  });

  it('enforces only hits at or above the minimum severity; the rest stay advisory', async () => {
    const config = { enforce: { minSeverity: { outbound: 'high' } } };
    // iban is medium by default: reported, not enforced.
    expect(await scan(config, textMessage('IBAN GB82WEST12345698765432'), { auth: true })).toEqual({
      status: 'pass',
      modifications: [{ type: 'addHeader', name: 'X-Hookgate-DLP', value: 'iban=1' }],
    });
    expect(await scan(config, textMessage(CARDS), { auth: true })).toMatchObject({
      status: 'fail',
      names: ['pci.card'],
    });
    const rules = [{ id: 'corp.codename', keywords: ['falcon'], severity: 'high' }];
    expect(await scan({ ...config, rules }, textMessage('About Falcon'), { auth: true })).toMatchObject({
      names: ['corp.codename'],
    });
  });

  it('reports parts it could not read as symbols, or as unscanned when configured', async () => {
    const msg = eml(
      multipart('mixed', [
        leaf('text/plain', 'see pdf'),
        leaf('application/pdf', '%PDF', { encoding: 'base64', filename: 'a.pdf' }),
      ]),
    );
    expect(await scan({}, msg)).toEqual({ status: 'pass', symbols: ['not-inspected:application/pdf'] });
    expect(await scan({ notInspected: 'unscanned' }, msg)).toEqual({
      status: 'unscanned',
      reason: 'unsupported',
      detail: 'not inspected: application/pdf',
    });
    const encrypted = eml(
      multipart('mixed', [
        leaf('application/pkcs7-mime', 'x', { encoding: 'base64', filename: 'smime.p7m' }),
      ]),
    );
    expect(await scan({ notInspected: 'unscanned' }, encrypted)).toMatchObject({
      status: 'unscanned',
      reason: 'encrypted',
    });
    const withHit = eml(
      multipart('mixed', [
        leaf('text/plain', CARDS),
        leaf('application/pdf', '%PDF', { encoding: 'base64', filename: 'a.pdf' }),
      ]),
    );
    expect(await scan({}, withHit)).toEqual({
      status: 'pass',
      modifications: [{ type: 'addHeader', name: 'X-Hookgate-DLP', value: 'pci.card=2, iban=1' }],
      symbols: ['not-inspected:application/pdf'],
    });
  });

  it('reports messages above maxMessageBytes unscanned, never clean', async () => {
    const outcome = await scan({ limits: { maxMessageBytes: 1024 } }, textMessage('x'.repeat(2000)));
    expect(outcome).toMatchObject({ status: 'unscanned', reason: 'too-large' });
  });
});

describe('no matched content leaves the scanner', () => {
  const secrets = [
    '4111111111111111',
    'GB82WEST12345698765432',
    '536-22-1234',
    'AKIA2E4G6J7K3M5P7R2T',
    'q8Hk2LmZ4pR7sT1vW3xY5zA9bC0dE6fG/hJ+kN2M',
    'ghp_R8dK2mQ7xL4vN9pT3wZ6bY1cH5jF0sA2eG8u',
    'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx',
    'sk_live_4eC39HqLyjWDarjtT1zdp7dc',
    'AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q',
    'MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB',
    'EMP-123456',
  ];
  const body = [
    `card ${secrets[0]}`,
    `iban ${secrets[1]}`,
    `ssn ${secrets[2]}`,
    `aws_access_key_id=${secrets[3]}`,
    `aws_secret_access_key=${secrets[4]}`,
    secrets[5],
    secrets[6],
    secrets[7],
    secrets[8],
    `-----BEGIN RSA PRIVATE KEY-----\n${secrets[9]}\n-----END RSA PRIVATE KEY-----`,
    `employee ${secrets[10]}`,
  ].join('\n');

  it('neither outcomes nor logs contain any part of a match', async () => {
    const config = resolveDlpConfig({
      rules: [{ id: 'corp.employee', pattern: 'EMP-\\d{6}' }],
    }) satisfies DlpScannerConfig;
    for (const auth of [true, false]) {
      const log = memoryLog();
      const outcome = await dlpScanner(config).scan(
        { request: request({ auth }), message: textMessage(body) },
        context(undefined, log),
      );
      const serialized = JSON.stringify(outcome) + JSON.stringify(log.lines);
      expect(serialized).toContain('pci.card');
      for (const s of secrets) {
        // No 6-character slice of any matched value, anywhere.
        for (let i = 0; i + 6 <= s.length; i++) expect(serialized).not.toContain(s.slice(i, i + 6));
      }
      expect(log.lines.length).toBeGreaterThan(0);
    }
  });
});

describe('abort and failure', () => {
  it('rejects at once when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('deadline'));
    const s = scannerWith();
    await expect(
      s.scan({ request: request(), message: textMessage('x') }, context(controller.signal)),
    ).rejects.toThrow('deadline');
  });

  it('stops between parts when the signal fires mid-scan', async () => {
    const chunk = `${'lorem ipsum 4111 1111 1111 1112 dolor sit amet\n'.repeat(40_000)}`;
    const parts = Array.from({ length: 8 }, (_, i) =>
      leaf('text/plain', chunk, { encoding: 'base64', filename: `${i}.txt` }),
    );
    const message = eml(multipart('mixed', [leaf('text/plain', 'logs'), ...parts]));
    const controller = new AbortController();
    const s = scannerWith();
    const pending = s.scan({ request: request(), message }, context(controller.signal));
    setTimeout(() => controller.abort(new Error('deadline reached')), 5);
    const started = performance.now();
    await expect(pending).rejects.toThrow('deadline reached');
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('throws an engine error for a message it cannot parse, never a clean pass', async () => {
    let root = leaf('text/plain', 'deep');
    for (let i = 0; i < 300; i++) root = multipart('mixed', [root]);
    await expect(scan({}, eml(root))).rejects.toMatchObject({ code: 'HOOKGATE_ERR_SCAN_ENGINE_ERROR' });
  });

  it('refuses to build with an invalid operator rule', () => {
    expect(() =>
      dlpScanner({
        ...resolveDlpConfig({}),
        rules: [{ ...resolveDlpConfig({ rules: [{ id: 'r', pattern: 'a' }] }).rules[0]!, pattern: '(' }],
      }),
    ).toThrow(/rules\.0\.pattern: invalid RE2 regex/);
  });
});
