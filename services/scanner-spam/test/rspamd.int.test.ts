import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StageRequest } from '@hookgate/contracts';
import { checkRspamd, rspamdHeaders, rspamdScanner, type RspamdScannerConfig } from '@hookgate/scanner-spam';
import { freePort, startTarpit } from '../../../test/support/daemons.js';
import { startRspamd, type RspamdDaemon } from '../../../test/support/rspamd.js';
import { clean, clean20k, gtube, toEml, type Sample } from '../../../test/support/samples.js';
import { stageRequest, scanContext } from '../../../test/support/scan-inputs.js';

/** An inbound message from a host with forward-confirmed rDNS, as the MTA would describe it. */
const request = (over: Partial<StageRequest> = {}): StageRequest =>
  stageRequest({
    protocol: 'draft01',
    client: { ip: '192.0.2.10', ptr: 'mail.example.org', helo: 'mail.example.org' },
    from: { address: 'alice@example.org' },
    to: [{ address: 'bob@example.net' }],
    queueId: 'Q1',
    ...over,
  });
const ctx = (signal?: AbortSignal) => scanContext(10_000, signal);
const bytes = (s: Sample) => Buffer.from(toEml(s), 'utf8');

describe('rspamd scanner against a real rspamd', () => {
  let rspamd: RspamdDaemon;
  let scanner: ReturnType<typeof rspamdScanner>;
  const make = (over: Partial<RspamdScannerConfig> = {}) => rspamdScanner({ url: rspamd.url, ...over });
  beforeAll(async () => {
    rspamd = await startRspamd();
    console.info(`rspamd ready in ${rspamd.startMs} ms`);
    scanner = make();
  });
  afterAll(() => rspamd?.stop());

  it('is reachable (init pings it)', async () => {
    await expect(scanner.init!({ log: ctx().log })).resolves.toBeUndefined();
  });

  it('rejects GTUBE with rspamd symbol, score and smtp_message', async () => {
    const outcome = await scanner.scan({ request: request(), message: bytes(gtube()) }, ctx());
    expect(outcome).toMatchObject({
      status: 'fail',
      category: 'spam',
      action: 'reject',
      names: ['GTUBE'],
      score: 15,
      reply: { code: 550, enhanced: '5.7.1', text: 'Gtube pattern' },
    });
  });

  it('passes clean mail (no action) with its score and no spam header', async () => {
    for (const sample of [clean(), clean20k()]) {
      const outcome = await scanner.scan({ request: request(), message: bytes(sample) }, ctx());
      expect(outcome).toMatchObject({ status: 'pass' });
      if (outcome.status !== 'pass') return;
      expect(outcome.score).toBeLessThan(6);
      expect(outcome.symbols).toContain('HFILTER_FROMHOST_NORES_A_OR_MX');
      expect(outcome.modifications ?? []).toEqual([]);
    }
  });

  it('sends the envelope: without the client PTR the same message crosses the add-header threshold', async () => {
    const noPtr = request({ client: { ip: '192.0.2.10', helo: 'mail.example.org' } });
    const outcome = await scanner.scan({ request: noPtr, message: bytes(clean()) }, ctx());
    expect(outcome).toMatchObject({
      status: 'pass',
      modifications: [{ type: 'addHeader', name: 'X-Spam', value: 'Yes' }],
    });
    if (outcome.status !== 'pass') return;
    expect(outcome.score).toBeGreaterThanOrEqual(6);
    expect(outcome.symbols).toEqual(expect.arrayContaining(['HFILTER_HOSTNAME_UNKNOWN', 'RDNS_NONE']));
  });

  it('sends User for authenticated senders: rspamd then skips the inbound host checks', async () => {
    const outcome = await scanner.scan(
      {
        request: request({ client: { ip: '192.0.2.10' }, auth: { login: 'alice' } }),
        message: bytes(clean()),
      },
      ctx(),
    );
    expect(outcome).toMatchObject({ status: 'pass' });
    expect(outcome.status === 'pass' && outcome.score).toBeLessThan(1);
  });

  it('sends Helo and From: rspamd looks them up through the DNS stub', async () => {
    const before = rspamd.dns.queries().length;
    await scanner.scan(
      {
        request: request({
          client: { ip: '192.0.2.10', helo: 'helo-probe.example.com' },
          from: { address: 'a@from-probe.example.com' },
        }),
        message: bytes(clean()),
      },
      ctx(),
    );
    const names = rspamd.dns
      .queries()
      .slice(before)
      .map((q) => q.name);
    expect(names).toContain('helo-probe.example.com');
    expect(names).toContain('from-probe.example.com');
  });

  it('sends one Rcpt header per recipient (rspamd sees the second one)', async () => {
    const headers = rspamdHeaders(
      request({ to: [{ address: 'bob@example.net' }, { address: 'carol@gmail.com' }] }),
    );
    const result = await checkRspamd(rspamd.url, bytes(clean()), headers);
    expect(result.symbols?.FREEMAIL_ENVRCPT?.options).toEqual(['gmail.com']);
  });

  it('adds the score header when configured', async () => {
    const outcome = await make({ scoreHeader: 'X-Spam-Score' }).scan(
      { request: request(), message: bytes(clean()) },
      ctx(),
    );
    expect(outcome).toMatchObject({
      status: 'pass',
      modifications: [
        { type: 'addHeader', name: 'X-Spam-Score', value: expect.stringMatching(/^\d+\.\d\d$/) },
      ],
    });
  });

  it('does not send a message above maxMessageBytes: unscanned, never clean', async () => {
    const outcome = await make({ maxMessageBytes: 100 }).scan(
      { request: request(), message: bytes(clean()) },
      ctx(),
    );
    expect(outcome).toMatchObject({ status: 'unscanned', reason: 'too-large' });
  });

  it('skips stages without a message', () => {
    expect(scanner.shouldScan?.({ request: request({ stage: 'rcpt' }) })).toBe('no message at this stage');
  });

  it('reports rspamd down as an unavailable engine, never clean', async () => {
    const port = await freePort();
    const down = rspamdScanner({ url: `http://127.0.0.1:${port}` });
    await expect(down.scan({ request: request(), message: bytes(clean()) }, ctx())).rejects.toMatchObject({
      code: 'HOOKGATE_ERR_SCAN_ENGINE_UNAVAILABLE',
      retryable: true,
    });
    await expect(down.init!({ log: ctx().log })).rejects.toMatchObject({
      code: 'HOOKGATE_ERR_SCAN_ENGINE_UNAVAILABLE',
    });
  });

  it('stops promptly when the scan is aborted (engine hangs), and times out on its own', async () => {
    const tarpit = await startTarpit();
    try {
      const hung = rspamdScanner({ url: `http://127.0.0.1:${tarpit.port}` });
      const controller = new AbortController();
      const started = Date.now();
      const scanning = hung.scan({ request: request(), message: bytes(clean()) }, ctx(controller.signal));
      setTimeout(() => controller.abort(), 100);
      await expect(scanning).rejects.toMatchObject({
        code: 'HOOKGATE_ERR_SCAN_TIMEOUT',
        message: 'rspamd scan aborted',
      });
      expect(Date.now() - started).toBeLessThan(1000);
      const slow = rspamdScanner({ url: `http://127.0.0.1:${tarpit.port}`, timeoutMs: 200 });
      await expect(slow.scan({ request: request(), message: bytes(clean()) }, ctx())).rejects.toMatchObject({
        code: 'HOOKGATE_ERR_SCAN_TIMEOUT',
        message: 'rspamd did not answer within 200 ms',
      });
    } finally {
      await tarpit.stop();
    }
  });
});
