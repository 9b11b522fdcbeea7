import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clamavScanner, parseClamdReply, type ClamavScannerConfig } from '@hookgate/scanner-av';
import { startClamd, startTarpit, freePort, type ClamdDaemon } from '../../../test/support/daemons.js';
import {
  clean,
  clean20k,
  eicarAttachment,
  eicarInline,
  eicarZip,
  toEml,
  type Sample,
} from '../../../test/support/samples.js';
import { stageRequest, scanContext } from '../../../test/support/scan-inputs.js';

const request = stageRequest();
const ctx = (signal?: AbortSignal) => scanContext(10_000, signal);
const base: Omit<ClamavScannerConfig, 'endpoint'> = {
  stages: ['data'],
  maxStreamBytes: 25 * 1024 * 1024,
  chunkBytes: 1024,
  reuseConnections: true,
  action: 'reject',
  reply: { code: 550, enhanced: '5.7.1', text: 'Virus found: {virus}' },
  header: { name: 'X-Virus-Scanned', value: 'hookgate (ClamAV)' },
};
const bytes = (s: Sample) => Buffer.from(toEml(s), 'utf8');

describe('clamav scanner against a real clamd', () => {
  let clamd: ClamdDaemon;
  beforeAll(async () => {
    clamd = await startClamd({ streamMaxLength: '64K' });
  });
  afterAll(() => clamd?.stop());

  for (const [name, sample] of [
    ['inline in the body', eicarInline()],
    ['in a base64 attachment', eicarAttachment()],
    ['inside a zip attachment', eicarZip()],
  ] as const) {
    it(`finds EICAR ${name} (TCP) and names the virus in a 550 5.7.1 reply`, async () => {
      const scanner = clamavScanner({ ...base, endpoint: clamd.tcp });
      const outcome = await scanner.scan({ request, message: bytes(sample) }, ctx());
      expect(outcome.status).toBe('fail');
      if (outcome.status !== 'fail') return;
      expect(outcome.category).toBe('virus');
      expect(outcome.action).toBe('reject');
      expect(outcome.names[0]).toMatch(/^Test\.EICAR/);
      expect(outcome.reply).toEqual({
        code: 550,
        enhanced: '5.7.1',
        text: `Virus found: ${outcome.names[0]}`,
      });
    });
  }

  it('scans over the Unix socket too, with multi-chunk streams', async () => {
    const scanner = clamavScanner({ ...base, endpoint: clamd.socket, chunkBytes: 1024 });
    expect((await scanner.scan({ request, message: bytes(eicarAttachment()) }, ctx())).status).toBe('fail');
    const cleanOutcome = await scanner.scan({ request, message: bytes(clean20k()) }, ctx());
    expect(cleanOutcome).toEqual({
      status: 'pass',
      modifications: [{ type: 'addHeader', name: 'X-Virus-Scanned', value: 'hookgate (ClamAV)' }],
    });
  });

  it('passes clean mail with the configured header, or none', async () => {
    const withHeader = clamavScanner({ ...base, endpoint: clamd.tcp });
    expect(await withHeader.scan({ request, message: bytes(clean()) }, ctx())).toMatchObject({
      status: 'pass',
      modifications: [{ name: 'X-Virus-Scanned' }],
    });
    const bare = clamavScanner({ ...base, endpoint: clamd.tcp, header: null });
    expect(await bare.scan({ request, message: bytes(clean()) }, ctx())).toEqual({ status: 'pass' });
  });

  it('applies the configured virus action', async () => {
    const scanner = clamavScanner({ ...base, endpoint: clamd.tcp, action: 'quarantine' });
    expect(await scanner.scan({ request, message: bytes(eicarInline()) }, ctx())).toMatchObject({
      status: 'fail',
      action: 'quarantine',
    });
  });

  it('never reports a message above clamd StreamMaxLength as clean', async () => {
    // 64 KiB limit on this clamd; the scanner's own limit is higher, so clamd refuses mid-stream.
    const big = Buffer.concat([bytes(clean()), Buffer.alloc(200 * 1024, 'a')]);
    const outcome = await clamavScanner({ ...base, endpoint: clamd.tcp }).scan(
      { request, message: big },
      ctx(),
    );
    expect(outcome).toMatchObject({ status: 'unscanned', reason: 'too-large' });
  });

  it('does not send a message above maxStreamBytes at all', async () => {
    const outcome = await clamavScanner({ ...base, endpoint: clamd.tcp, maxStreamBytes: 100 }).scan(
      { request, message: bytes(clean()) },
      ctx(),
    );
    expect(outcome).toMatchObject({ status: 'unscanned', reason: 'too-large' });
  });

  it('skips stages without a message', () => {
    const scanner = clamavScanner({ ...base, endpoint: clamd.tcp });
    expect(scanner.shouldScan?.({ request })).toBe('no message at this stage');
  });

  it('reports an unreachable clamd as an engine error, never clean', async () => {
    const port = await freePort();
    const scanner = clamavScanner({ ...base, endpoint: `tcp://127.0.0.1:${port}` });
    await expect(scanner.scan({ request, message: bytes(clean()) }, ctx())).rejects.toMatchObject({
      code: 'HOOKGATE_ERR_SCAN_ENGINE_UNAVAILABLE',
    });
  });

  it('stops waiting when the scan is aborted (engine hangs)', async () => {
    const tarpit = await startTarpit();
    try {
      const controller = new AbortController();
      const scanning = clamavScanner({ ...base, endpoint: tarpit.endpoint }).scan(
        { request, message: bytes(clean()) },
        ctx(controller.signal),
      );
      controller.abort();
      await expect(scanning).rejects.toBeDefined();
    } finally {
      await tarpit.stop();
    }
  });
});

/** A TCP relay in front of clamd that counts the connections made through it and can cut them all. */
async function relay(to: { host: string; port: number }) {
  const open = new Set<Socket>();
  let accepted = 0;
  let cutNext = false;
  const server: Server = createServer((client) => {
    accepted++;
    const upstream = connect(to);
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('data', (b) => {
      if (cutNext) {
        cutNext = false;
        client.destroy();
        return;
      }
      upstream.write(b);
    });
    // clamd's last reply (e.g. a refused stream's) must reach the client before the relay closes it: end, not destroy.
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.end());
    upstream.on('close', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `tcp://127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    /** Closes every relayed connection, as clamd does with a session idle past its IdleTimeout. */
    cutAll: () => {
      for (const s of open) s.destroy();
    },
    /** The next bytes any client sends close its connection unread (clamd gone between two commands). */
    cutOnNextCommand: () => {
      cutNext = true;
    },
    stop: () => {
      // Kept sessions would hold server.close() open until clamd's IdleTimeout: cut them first.
      for (const s of open) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('clamd connections kept between scans (IDSESSION)', () => {
  let clamd: ClamdDaemon;
  let via: Awaited<ReturnType<typeof relay>>;
  beforeAll(async () => {
    clamd = await startClamd({ streamMaxLength: '64K' });
    const [host, port] = clamd.tcp.replace('tcp://', '').split(':');
    via = await relay({ host: host!, port: Number(port) });
  });
  afterAll(async () => {
    try {
      await via?.stop();
    } finally {
      await clamd?.stop();
    }
  });

  it('scans one message after another over a single connection, with the right verdict each time', async () => {
    const before = via.accepted;
    const scanner = clamavScanner({ ...base, endpoint: via.endpoint });
    const statuses = [];
    for (const s of [clean(), eicarInline(), clean20k(), eicarZip(), clean()])
      statuses.push((await scanner.scan({ request, message: bytes(s) }, ctx())).status);
    expect(statuses).toEqual(['pass', 'fail', 'pass', 'fail', 'pass']);
    expect(via.accepted - before).toBe(1);
    await scanner.close?.();
  });

  it('opens one connection per scan when reuseConnections is off', async () => {
    const before = via.accepted;
    const scanner = clamavScanner({ ...base, endpoint: via.endpoint, reuseConnections: false });
    for (let i = 0; i < 3; i++)
      expect((await scanner.scan({ request, message: bytes(clean()) }, ctx())).status).toBe('pass');
    expect(via.accepted - before).toBe(3);
  });

  it('answers concurrent scans right, on no more connections than scans at once', async () => {
    const before = via.accepted;
    const scanner = clamavScanner({ ...base, endpoint: via.endpoint });
    const samples = Array.from({ length: 24 }, (_, i) => (i % 3 === 0 ? eicarInline() : clean20k()));
    for (let round = 0; round < 2; round++) {
      const outcomes = await Promise.all(
        samples.map((s) => scanner.scan({ request, message: bytes(s) }, ctx())),
      );
      expect(outcomes.map((o) => o.status)).toEqual(samples.map((_, i) => (i % 3 === 0 ? 'fail' : 'pass')));
    }
    expect(via.accepted - before).toBeGreaterThan(0);
    expect(via.accepted - before).toBeLessThanOrEqual(samples.length);
    await scanner.close?.();
  });

  it.each([
    ['clamd closed it while it was idle', () => via.cutAll()],
    [
      'it closes on the next command, before answering (the scan is sent again)',
      () => via.cutOnNextCommand(),
    ],
  ])('replaces a kept connection when %s, and the scan still gets its verdict', async (_, cut) => {
    const scanner = clamavScanner({ ...base, endpoint: via.endpoint });
    expect((await scanner.scan({ request, message: bytes(clean()) }, ctx())).status).toBe('pass');
    const before = via.accepted;
    cut();
    expect((await scanner.scan({ request, message: bytes(eicarInline()) }, ctx())).status).toBe('fail');
    expect(via.accepted - before).toBe(1);
    await scanner.close?.();
  });

  it('after clamd refused a stream over StreamMaxLength (and closed that session), the next scans get verdicts', async () => {
    // Direct to clamd: a relay can lose the refusal when clamd resets the connection under the rest of the stream.
    const scanner = clamavScanner({ ...base, endpoint: clamd.tcp });
    const big = Buffer.concat([bytes(clean()), Buffer.alloc(200 * 1024, 'a')]);
    expect(await scanner.scan({ request, message: big }, ctx())).toMatchObject({
      status: 'unscanned',
      reason: 'too-large',
    });
    expect((await scanner.scan({ request, message: bytes(eicarInline()) }, ctx())).status).toBe('fail');
    expect((await scanner.scan({ request, message: bytes(clean()) }, ctx())).status).toBe('pass');
    await scanner.close?.();
  });
});

describe('clamd reply parser', () => {
  it.each([
    ['stream: OK', { kind: 'clean' }],
    ['stream: Win.Test.EICAR_HDB-1 FOUND', { kind: 'found', name: 'Win.Test.EICAR_HDB-1' }],
    ['INSTREAM size limit exceeded. ERROR', { kind: 'too-large' }],
    [
      "stream: Can't allocate memory ERROR",
      { kind: 'error', message: "stream: Can't allocate memory ERROR" },
    ],
  ])('%s', (line, expected) => {
    expect(parseClamdReply(line)).toEqual(expected);
  });
  it('rejects garbage', () => {
    expect(() => parseClamdReply('hello')).toThrow(/unexpected clamd reply/);
  });
});
