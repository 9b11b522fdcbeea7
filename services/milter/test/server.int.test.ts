/**
 * MilterServer on real loopback sockets with a pipeline the test controls (issue 11): the time allowed before
 * OPTNEG and between commands, and which connection makes room for a newcomer at maxConnections.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { StageRequest } from '@hookgate/contracts';
import { MilterServer, type MilterServerOptions, type StageRunner } from '../src/index.js';
import { MilterClient, packet } from '../../../test/support/milter-client.js';
import { verdict } from '../../../test/support/verdicts.js';

const accept = verdict();

/** A pipeline that answers accept, or holds every call while `hold` is set until it is released. */
function pipeline(): StageRunner & { hold: boolean; release(): void; calls: number } {
  let waiting: (() => void)[] = [];
  const p = {
    hold: false,
    calls: 0,
    release() {
      for (const w of waiting) w();
      waiting = [];
    },
    deadlineFor: (_stage: string, receivedAt: number) => receivedAt + 30_000,
    async handle() {
      p.calls++;
      if (p.hold) await new Promise<void>((r) => waiting.push(r));
      return { verdict: accept, request: {} as StageRequest, recorded: Promise.resolve() };
    },
  };
  return p;
}

const warnings: string[] = [];
const log = {
  debug() {},
  info() {},
  warn: (_o: object, msg?: string) => void warnings.push(msg ?? ''),
  error() {},
};

let server: MilterServer | undefined;
const clients: MilterClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close(100);
  server = undefined;
  warnings.length = 0;
});

async function start(over: Partial<MilterServerOptions>, runner: StageRunner = pipeline()): Promise<number> {
  server = new MilterServer({
    listen: { kind: 'tcp', host: '127.0.0.1', port: 0 },
    maxFrameBytes: 1 << 20,
    negotiationTimeoutMs: 60_000,
    idleTimeoutMs: 60_000,
    maxConnections: 100,
    log,
    session: {
      pipeline: runner,
      stages: ['connect', 'ehlo', 'mail', 'rcpt', 'data'],
      maxMessageBytes: 1 << 20,
      oversize: 'reject',
      onError: 'tempfail',
      graceMs: 100,
      requestMacros: true,
      noReply: false,
      replies: {
        tempfail: { code: 451, enhanced: '4.7.1', text: 'Try later' },
        reject: { code: 550, enhanced: '5.7.1', text: 'No' },
      },
    },
    ...over,
  });
  const address = await server.listen();
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

async function client(port: number): Promise<MilterClient> {
  const c = await MilterClient.open({ port });
  clients.push(c);
  return c;
}

/** Resolves once the server holds `n` connections. */
const holding = (n: number) => expect.poll(() => server!.connections, { timeout: 5000 }).toBe(n);

const isClosed = async (c: MilterClient) => {
  let closed = false;
  void c.closed.then(() => (closed = true));
  await new Promise<void>((r) => setImmediate(r));
  return closed;
};

async function took(p: Promise<unknown>): Promise<number> {
  const t0 = Date.now();
  await p;
  return Date.now() - t0;
}

describe('room at maxConnections', () => {
  it('closes the un-negotiated connection first, then the negotiated one idle longest', async () => {
    const port = await start({ maxConnections: 3 });
    const a = await client(port);
    await a.negotiate();
    const b = await client(port);
    await b.negotiate();
    // A command on a: b is now the negotiated connection idle longest.
    expect((await a.connect('client.example', '192.0.2.1', 4000)).map((p) => p.cmd)).toEqual(['c']);
    const c = await client(port);
    await holding(3);
    const d = await client(port);
    await c.closed;
    await d.negotiate();
    const e = await client(port);
    await b.closed;
    await e.negotiate();
    expect(await Promise.all([a, d, e].map(isClosed))).toEqual([false, false, false]);
    expect(server!.counters).toMatchObject({ evictedUnnegotiated: 1, evictedIdle: 1, refused: 0 });
    // Survivors still work.
    expect((await a.helo('client.example')).map((p) => p.cmd)).toEqual(['c']);
    expect(warnings).toContain(
      'milter connections closed or refused by limits (counts since the last report)',
    );
  });

  it('never closes a connection waiting for a verdict: the newcomer is refused instead', async () => {
    const runner = pipeline();
    const port = await start({ maxConnections: 2 }, runner);
    const [a, b] = [await client(port), await client(port)];
    await Promise.all([a.negotiate(), b.negotiate()]);
    runner.hold = true;
    const answers = [a.connect('a.example', '192.0.2.1', 4000), b.connect('b.example', '192.0.2.2', 4000)];
    await expect.poll(() => runner.calls).toBe(2);
    const c = await client(port);
    await c.closed;
    expect(server!.counters.refused).toBe(1);
    runner.release();
    expect((await Promise.all(answers)).map((r) => r.map((p) => p.cmd))).toEqual([['c'], ['c']]);
  });
});

describe('time allowed', () => {
  it('closes a connection without OPTNEG after negotiationTimeoutMs; a negotiated one stays', async () => {
    const port = await start({ negotiationTimeoutMs: 1000 });
    const silent = await client(port);
    const talker = await client(port);
    await talker.negotiate();
    const ms = await took(silent.closed);
    expect(ms).toBeGreaterThanOrEqual(900);
    expect(ms).toBeLessThan(5000);
    expect(await isClosed(talker)).toBe(false);
    expect(server!.counters.negotiationTimeouts).toBe(1);
    expect(warnings).toContain(
      'milter connections closed or refused by limits (counts since the last report)',
    );
  });

  it('counts whole commands: a trickled packet does not keep a session alive past idleTimeoutMs', async () => {
    const port = await start({ idleTimeoutMs: 1000 });
    const trickler = await client(port);
    const steady = await client(port);
    await Promise.all([trickler.negotiate(), steady.negotiate()]);
    // A HELO packet, one byte per 100 ms: never complete within the second.
    const helo = packet('H', 'slow.example\0');
    let at = 0;
    const timer = setInterval(() => {
      if (at < helo.length) trickler.write(helo.subarray(at, ++at));
      // Whole macro packets (no reply) every 100 ms keep the other session alive.
      steady.send('D', Buffer.from('Cj\0mx.example\0', 'latin1'));
    }, 100);
    try {
      const ms = await took(trickler.closed);
      expect(ms).toBeGreaterThanOrEqual(900);
      expect(ms).toBeLessThan(5000);
      expect(await isClosed(steady)).toBe(false);
    } finally {
      clearInterval(timer);
    }
  });

  it('a pipeline call longer than idleTimeoutMs does not count as idle', async () => {
    const runner = pipeline();
    const port = await start({ idleTimeoutMs: 1000 }, runner);
    const c = await client(port);
    await c.negotiate();
    runner.hold = true;
    const answer = c.connect('client.example', '192.0.2.1', 4000);
    await expect.poll(() => runner.calls).toBe(1);
    // Held past the idle timeout, observed through a second session that times out meanwhile.
    const witness = await client(port);
    await witness.negotiate();
    await witness.closed;
    runner.release();
    expect((await answer).map((p) => p.cmd)).toEqual(['c']);
  });
});
