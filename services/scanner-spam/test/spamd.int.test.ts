import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spamdCheck, spamdScanner, type SpamdScannerConfig } from '@hookgate/scanner-spam';
import { freePort, startTarpit } from '../../../test/support/daemons.js';
import { startSpamd, type SpamdDaemon } from '../../../test/support/spamd.js';
import { clean, gtube, toEml, type Sample } from '../../../test/support/samples.js';
import { stageRequest, scanContext } from '../../../test/support/scan-inputs.js';

const request = stageRequest();
const ctx = (signal?: AbortSignal) => scanContext(20_000, signal);
const bytes = (s: Sample) => Buffer.from(toEml(s), 'utf8');

describe('spamd scanner against a real spamd', () => {
  let spamd: SpamdDaemon;
  const make = (over: Partial<SpamdScannerConfig> = {}) =>
    spamdScanner({ endpoint: spamd.endpoint, ...over });
  beforeAll(async () => {
    spamd = await startSpamd();
    console.info(`spamd ready in ${spamd.startMs} ms`);
  });
  afterAll(() => spamd?.stop());

  it('is reachable (init pings it)', async () => {
    await expect(make().init!({ log: ctx().log })).resolves.toBeUndefined();
  });

  it('finds GTUBE: spam with score, rule names and a 550 5.7.1', async () => {
    const outcome = await make().scan({ request, message: bytes(gtube()) }, ctx());
    expect(outcome).toMatchObject({
      status: 'fail',
      category: 'spam',
      action: 'reject',
      reply: { code: 550, enhanced: '5.7.1' },
    });
    if (outcome.status !== 'fail') return;
    expect(outcome.score).toBeGreaterThanOrEqual(999);
    expect(outcome.names).toContain('GTUBE');
  });

  it('with REPORT, names come highest score first; over the Unix socket too', async () => {
    const outcome = await make({ endpoint: spamd.socket, command: 'REPORT', action: 'quarantine' }).scan(
      { request, message: bytes(gtube()) },
      ctx(),
    );
    expect(outcome).toMatchObject({ status: 'fail', action: 'quarantine' });
    expect(outcome.status === 'fail' && outcome.names[0]).toBe('GTUBE');
    expect(outcome).toMatchObject({
      modifications: [
        { name: 'X-Spam-Flag', value: 'YES' },
        {
          name: 'X-Spam-Status',
          value: expect.stringMatching(/^Yes, score=\d+\.\d required=5\.0 tests=GTUBE,/),
        },
      ],
    });
  });

  it('passes clean mail with an X-Spam-Status header', async () => {
    const outcome = await make().scan({ request, message: bytes(clean()) }, ctx());
    expect(outcome).toMatchObject({
      status: 'pass',
      modifications: [
        {
          type: 'addHeader',
          name: 'X-Spam-Status',
          value: expect.stringMatching(/^No, score=-?\d+\.\d required=5\.0 tests=/),
        },
      ],
    });
    expect(outcome.status === 'pass' && outcome.score).toBeLessThan(5);
  });

  it('the low-level client sends a User header and reports the threshold', async () => {
    const result = await spamdCheck(spamd.endpoint, bytes(gtube()), { user: 'bob', command: 'SYMBOLS' });
    expect(result).toMatchObject({ isSpam: true, threshold: 5 });
  });

  it('does not send a message above maxMessageBytes: unscanned, never clean', async () => {
    const outcome = await make({ maxMessageBytes: 100 }).scan({ request, message: bytes(clean()) }, ctx());
    expect(outcome).toMatchObject({ status: 'unscanned', reason: 'too-large' });
  });

  it('reports spamd down as an unavailable engine, never clean', async () => {
    const port = await freePort();
    const down = spamdScanner({ endpoint: `tcp://127.0.0.1:${port}` });
    await expect(down.scan({ request, message: bytes(clean()) }, ctx())).rejects.toMatchObject({
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
      const controller = new AbortController();
      const started = Date.now();
      const scanning = spamdScanner({ endpoint: tarpit.endpoint }).scan(
        { request, message: bytes(clean()) },
        ctx(controller.signal),
      );
      setTimeout(() => controller.abort(), 100);
      await expect(scanning).rejects.toMatchObject({
        code: 'HOOKGATE_ERR_SCAN_TIMEOUT',
        message: 'spamd scan aborted',
      });
      expect(Date.now() - started).toBeLessThan(1000);
      const slow = spamdScanner({ endpoint: tarpit.endpoint, timeoutMs: 200 });
      await expect(slow.scan({ request, message: bytes(clean()) }, ctx())).rejects.toMatchObject({
        code: 'HOOKGATE_ERR_SCAN_TIMEOUT',
        message: 'spamd did not answer within 200 ms',
      });
    } finally {
      await tarpit.stop();
    }
  });
});
