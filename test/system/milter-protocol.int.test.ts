/**
 * The milter protocol through the real `hookgate milter` process, driven by an independent TS milter client: v2
 * and v6 negotiation, fragmented and coalesced packets, broken connections closed without touching a concurrent
 * session, abort and several messages per connection, QUIT_NC, a Unix socket, and the tempfail answers when
 * results cannot come. Private Redis and clamd; a `hookgate worker` hosts clamav.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { statSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
  startRedis,
  startClamd,
  freePort,
  tempDir,
  type RedisDaemon,
  type ClamdDaemon,
} from '../support/daemons.js';
import { startHookgate, writeConfig, type HookgateProcess } from '../support/processes.js';
import { MilterClient, packet, show } from '../support/milter-client.js';
import { clean, eicarInline, toEml } from '../support/samples.js';

let redis: RedisDaemon;
let clamd: ClamdDaemon;
let worker: HookgateProcess;
let milter: HookgateProcess;
let port: number;
const extra: HookgateProcess[] = [];
const clients: MilterClient[] = [];
const PREFIX = `mp${process.pid}`;
const DATA_DEADLINE_MS = 3000;

function config(prefix: string, more = ''): string {
  return writeConfig(`
redis: { prefix: ${prefix} }
stages: { deadlineMs: { connect: 1500, ehlo: 1500, mail: 1500, rcpt: 1500, data: ${DATA_DEADLINE_MS} } }
scanners: { dlp: { enabled: false } }
${more}`);
}

async function startMilter(env: Record<string, string>): Promise<{ p: HookgateProcess; address: string }> {
  const p = await startHookgate(
    ['milter'],
    { HOOKGATE_METRICS_LISTEN: '127.0.0.1:0', HOOKGATE_LOG_LEVEL: 'info', ...env },
    /milter listening on \S+/,
  );
  return { p, address: /milter listening on (\S+)/.exec(p.stderr())![1]! };
}

beforeAll(async () => {
  [redis, clamd] = await Promise.all([startRedis(), startClamd()]);
  const env = {
    HOOKGATE_CONFIG: config(PREFIX),
    HOOKGATE_REDIS_URL: redis.url,
    HOOKGATE_CLAMD: clamd.tcp,
    HOOKGATE_METRICS_LISTEN: '127.0.0.1:0',
  };
  worker = await startHookgate(['worker', '--scanners', 'clamav'], env);
  port = await freePort();
  milter = (await startMilter({ ...env, HOOKGATE_MILTER_LISTEN: `127.0.0.1:${port}` })).p;
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});
afterAll(async () => {
  await Promise.all([...extra, milter, worker].map((p) => p?.stop()));
  await Promise.all([redis?.stop(), clamd?.stop()]);
});

const portOf = (address: string) => Number(address.slice(address.lastIndexOf(':') + 1));

async function client(target: { port: number } | { path: string } = { port }): Promise<MilterClient> {
  const c = await MilterClient.open(target);
  clients.push(c);
  return c;
}

/** Negotiated (v6, Postfix's offer), connected and past HELO. */
async function session(ip = '192.0.2.25', version = 6): Promise<MilterClient> {
  const c = await client();
  await (version === 6 ? c.negotiate() : c.negotiate(2, 0x3f, 0x7f));
  c.macros('C', { j: 'mx.test.invalid', '{daemon_addr}': '127.0.0.1', '{daemon_port}': '25' });
  expect(show(await c.connect('client.example.org', ip, 40000))).toEqual(['c:']);
  expect(show(await c.helo('client.example.org'))).toEqual(['c:']);
  return c;
}

async function envelope(c: MilterClient, from: string, ...rcpts: string[]): Promise<void> {
  expect(show(await c.mail(from))).toEqual(['c:']);
  for (const r of rcpts) expect(show(await c.rcpt(r))).toEqual(['c:']);
}

const SCANNED = 'h:X-Virus-Scanned| hookgate (ClamAV)';

/** One HEADER packet per header line of `head` (no folded lines in the samples). */
const headerPackets = (head: string) =>
  head
    .split('\r\n')
    .map((l) => packet('L', `${l.slice(0, l.indexOf(':'))}\0${l.slice(l.indexOf(':') + 1)}\0`));

/** The next `n` answers, in order. */
async function answers(c: MilterClient, n: number) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(...(await c.answer()));
  return out;
}

describe('negotiation', () => {
  it('v6 as Postfix 3.7 offers it: all actions, leading spaces, a macro list', async () => {
    const c = await client();
    const n = await c.negotiate(6, 0x1ff, 0x1fffff);
    expect(n).toMatchObject({ version: 6, actions: 0x1ff, protocol: 0x100000 });
    expect(n.macros[2]).toContain('{auth_authen}');
    expect(n.macros[0]).toContain('{daemon_addr}');
  });

  it('v2 as Stalwart can speak it: every step answered, headers without leading space, clean mail scanned', async () => {
    const c = await session('192.0.2.26', 2);
    expect(c.negotiated).toEqual({ version: 2, actions: 0x3f, protocol: 0, macros: {} });
    await envelope(c, 'alice@example.org', 'bob@example.net');
    expect(show(await c.message(toEml(clean())))).toEqual(['h:X-Virus-Scanned|hookgate (ClamAV)', 'a:']);
  });
});

describe('framing', () => {
  it('packets split byte by byte reassemble; EICAR is rejected with hookgate reply text', async () => {
    const c = await session();
    await envelope(c, 'alice@example.org', 'bob@example.net');
    const msg = toEml(eicarInline());
    const split = msg.indexOf('\r\n\r\n');
    const headers = headerPackets(msg.slice(0, split));
    const stream = Buffer.concat([
      packet('T'),
      ...headers,
      packet('N'),
      packet('B', msg.slice(split + 4)),
      packet('E'),
    ]);
    for (const b of stream) {
      c.write(Buffer.from([b]));
      // Let each byte leave in its own segment.
      await new Promise((r) => setImmediate(r));
    }
    const replies = show(await answers(c, headers.length + 4));
    expect(replies.slice(0, -1).every((r) => r === 'c:')).toBe(true);
    expect(replies.at(-1)).toMatch(/^y:550 5\.7\.1 Virus found: Test\.EICAR/);
  });

  it('packets coalesced into one write are handled in order, each answered', async () => {
    const c = await session();
    c.write(
      Buffer.concat([
        packet('D', 'M{auth_type}\0PLAIN\0'),
        packet('M', '<alice@example.org>\0'),
        packet('R', '<bob@example.net>\0'),
        packet('R', '<carol@example.net>\0'),
      ]),
    );
    expect(show(await answers(c, 3))).toEqual(['c:', 'c:', 'c:']);
    const msg = toEml(clean());
    const split = msg.indexOf('\r\n\r\n');
    const headers = headerPackets(msg.slice(0, split));
    c.write(
      Buffer.concat([
        packet('T'),
        ...headers,
        packet('N'),
        packet('B', msg.slice(split + 4, split + 20)),
        packet('B', msg.slice(split + 20)),
        packet('E'),
      ]),
    );
    expect(show(await answers(c, headers.length + 5))).toEqual([
      ...Array<string>(headers.length + 4).fill('c:'),
      SCANNED,
      'a:',
    ]);
  });
});

describe('a broken connection is closed and never affects another one', () => {
  it('oversized, malformed, unknown and out-of-order packets each close only their own connection', async () => {
    const healthy = await session('192.0.2.30');
    await envelope(healthy, 'alice@example.org', 'bob@example.net');

    const oversized = await client();
    await oversized.negotiate();
    const head = Buffer.alloc(5);
    head.writeUInt32BE(2 * 1024 * 1024);
    head.write('B', 4);
    oversized.write(head);

    const malformed = await client();
    malformed.send('O', Buffer.alloc(4));

    const unknown = await client();
    await unknown.negotiate();
    unknown.send('Z', 'what');

    const early = await client();
    early.send('C', early.connectPacket('x', '192.0.2.1', 1));

    const empty = await client();
    empty.write(Buffer.alloc(4));

    const badConnect = await client();
    await badConnect.negotiate();
    badConnect.send('C', 'no-family');

    await Promise.all([oversized, malformed, unknown, early, empty, badConnect].map((c) => c.closed));
    // The healthy session, opened before and still mid-transaction, completes.
    expect(show(await healthy.message(toEml(clean())))).toEqual([SCANNED, 'a:']);

    const log = milter.stdout();
    for (const code of ['FRAME_TOO_LARGE', 'MALFORMED', 'UNKNOWN_COMMAND', 'PROTOCOL'])
      expect(log).toContain(`HOOKGATE_ERR_MILTER_${code}`);
    expect(log.match(/milter connection closed: protocol error/g)?.length).toBeGreaterThanOrEqual(6);
    // Never addresses, header values or body text in the logs.
    for (const secret of [
      'bob@example.net',
      'alice@example.org',
      'Quarterly meeting',
      'please find the notes',
    ])
      expect(log).not.toContain(secret);
  });
});

describe('sessions', () => {
  const logKeys = async (r: Redis) => new Set(await r.keys(`${PREFIX}:*:log`));
  const newLogs = async (r: Redis, before: Set<string>) => {
    const keys = [...(await logKeys(r))].filter((k) => !before.has(k));
    return Promise.all(
      keys.map(async (k) => (await r.lrange(k, 0, -1)).map((e) => e.split('|').slice(0, 2).join('|'))),
    );
  };

  it('abort needs no reply; several messages on one connection; checked transactions numbered in Redis', async () => {
    const r = new Redis(redis.url);
    try {
      const before = await logKeys(r);
      const c = await session('192.0.2.40');
      await envelope(c, 'first@example.org', 'bob@example.net');
      await c.command('T');
      await c.command('L', 'Subject\0 aborted\0');
      await c.command('B', 'half a body');
      c.abort();
      // No reply to ABORT: the next answer belongs to the next MAIL.
      await envelope(c, 'second@example.org', 'bob@example.net');
      expect(show(await c.message(toEml(eicarInline())))).toEqual([
        expect.stringMatching(/^y:550 5\.7\.1 Virus found/),
      ]);
      await envelope(c, 'third@example.org', 'bob@example.net', 'carol@example.net');
      expect(show(await c.message(toEml(clean())))).toEqual([SCANNED, 'a:']);
      c.quit();
      await c.closed;
      const logs = await newLogs(r, before);
      // Only stages where something is checked are recorded (here: data); the aborted message never reached it.
      expect(logs).toEqual([['1|data', '2|data']]);
    } finally {
      r.disconnect();
    }
  });

  it('QUIT_NC: a new SMTP session (new session id) on the same connection; QUIT closes it', async () => {
    const r = new Redis(redis.url);
    try {
      const before = await logKeys(r);
      const c = await session('192.0.2.50');
      await envelope(c, 'one@example.org', 'bob@example.net');
      expect(show(await c.message(toEml(clean())))).toEqual([SCANNED, 'a:']);
      c.quitNc();
      expect(show(await c.connect('other.example.org', '198.51.100.9', 50000))).toEqual(['c:']);
      await envelope(c, 'two@example.org', 'bob@example.net');
      expect(show(await c.message(toEml(eicarInline())))).toEqual([
        expect.stringMatching(/^y:550 5\.7\.1 Virus found/),
      ]);
      c.quit();
      await c.closed;
      const logs = (await newLogs(r, before)).sort((a, b) => a.length - b.length);
      // Two SMTP sessions, one checked transaction each.
      expect(logs).toEqual([['1|data'], ['1|data']]);
    } finally {
      r.disconnect();
    }
  });
});

describe('listening and failing', () => {
  it('listens on a Unix socket with the configured mode (and no-reply steps) and removes it on exit', async () => {
    const dir = tempDir('milter-sock');
    const path = join(dir, 'milter.sock');
    const { p, address } = await startMilter({
      HOOKGATE_CONFIG: config(PREFIX, 'milter: { socketMode: "600", noReply: true }'),
      HOOKGATE_REDIS_URL: redis.url,
      HOOKGATE_CLAMD: clamd.tcp,
      HOOKGATE_MILTER_LISTEN: `unix:${path}`,
    });
    extra.push(p);
    expect(address).toBe(`unix:${path}`);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const c = await client({ path });
    // This one also negotiates no replies for headers, body, EOH, DATA and unknown commands (milter.noReply).
    expect((await c.negotiate()).protocol).toBe(0x80 | 0x80000 | 0x40000 | 0x10000 | 0x20000 | 0x100000);
    expect(show(await c.connect('client.example.org', '192.0.2.60', 1234))).toEqual(['c:']);
    await envelope(c, 'alice@example.org', 'bob@example.net');
    expect(show(await c.message(toEml(clean())))).toEqual([SCANNED, 'a:']);
    c.quit();
    await c.closed;
    expect(await p.stop()).toBe(0);
    expect(existsSync(path)).toBe(false);
    rmSync(dir, { recursive: true });
  });

  it('no worker for a required scanner: tempfail at once, without waiting for the stage deadline (issue 11)', async () => {
    const prefix = `${PREFIX}nw`;
    const { p, address } = await startMilter({
      HOOKGATE_CONFIG: config(prefix),
      HOOKGATE_REDIS_URL: redis.url,
      HOOKGATE_CLAMD: clamd.tcp,
      HOOKGATE_MILTER_LISTEN: '127.0.0.1:0',
    });
    extra.push(p);
    const c = await client({ port: portOf(address) });
    await c.negotiate();
    await c.connect('client.example.org', '192.0.2.70', 1234);
    await c.mail('a@example.org');
    await c.rcpt('b@example.net');
    const t0 = Date.now();
    expect(show(await c.message(toEml(clean())))).toEqual([
      'y:451 4.7.1 Temporary failure in content scanning, try again later',
    ]);
    // The pool is known to be empty: nothing waits for a worker that does not exist.
    expect(Date.now() - t0).toBeLessThan(DATA_DEADLINE_MS - 200);
  });

  it('Redis down: connect still answered, data tempfailed by the deadline', async () => {
    const own = await startRedis();
    let p: HookgateProcess | undefined;
    try {
      const started = await startMilter({
        HOOKGATE_CONFIG: config(`${PREFIX}rd`),
        HOOKGATE_REDIS_URL: own.url,
        HOOKGATE_CLAMD: clamd.tcp,
        HOOKGATE_MILTER_LISTEN: '127.0.0.1:0',
      });
      p = started.p;
      const address = started.address;
      await own.pause();
      const c = await client({ port: portOf(address) });
      await c.negotiate();
      expect(show(await c.connect('client.example.org', '192.0.2.80', 1234))).toEqual(['c:']);
      await c.mail('a@example.org');
      await c.rcpt('b@example.net');
      const t0 = Date.now();
      expect(show(await c.message(toEml(clean())))).toEqual([
        'y:451 4.7.1 Temporary failure in content scanning, try again later',
      ]);
      expect(Date.now() - t0).toBeLessThan(DATA_DEADLINE_MS + 1500);
    } finally {
      // Its Redis is gone: a graceful stop would only wait for closers that cannot finish.
      await p?.stop('SIGKILL');
      await own.stop();
    }
  });
});
