/**
 * Issue 11, the milter listener under abuse, through the built `hookgate milter` process: 2,000 TCP connections
 * that never send OPTNEG (the figure, at the default milter.maxConnections of 2,000) while real sessions
 * come from the independent TS milter client and from a real Postfix 3.7; the same sockets reopened as fast as they
 * are closed (a flood); and the OPTNEG timeout emptying the listener of them. Private Redis and clamd; a
 * `hookgate worker` hosts clamav.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, startClamd, freePort, type RedisDaemon, type ClamdDaemon } from '../support/daemons.js';
import { startHookgate, writeConfig, type HookgateProcess } from '../support/processes.js';
import { MilterClient, show } from '../support/milter-client.js';
import { startPostfix, type PostfixInstance } from '../support/postfix.js';
import { swaks } from '../support/swaks.js';
import { clean, eicarInline, toEml } from '../support/samples.js';
import { slowAttack, type SlowAttack } from '../support/abuse.js';

const IDLE = 2000;
let redis: RedisDaemon;
let clamd: ClamdDaemon;
let worker: HookgateProcess;
const milters: HookgateProcess[] = [];
const attacks: SlowAttack[] = [];
const clients: MilterClient[] = [];
let postfix: PostfixInstance | undefined;
const PREFIX = `abm${process.pid}`;

function config(milter: string): string {
  return writeConfig(`
redis: { prefix: ${PREFIX} }
stages: { deadlineMs: { connect: 3000, ehlo: 3000, mail: 3000, rcpt: 3000, data: 5000 } }
scanners: { dlp: { enabled: false } }
milter: { ${milter} }
`);
}

beforeAll(async () => {
  [redis, clamd] = await Promise.all([startRedis(), startClamd()]);
  worker = await startHookgate(['worker', '--scanners', 'clamav'], {
    HOOKGATE_CONFIG: config(''),
    HOOKGATE_REDIS_URL: redis.url,
    HOOKGATE_CLAMD: clamd.tcp,
    HOOKGATE_METRICS_LISTEN: '127.0.0.1:0',
  });
});
afterEach(async () => {
  for (const a of attacks.splice(0)) a.stop();
  for (const c of clients.splice(0)) c.close();
  await postfix?.stop();
  postfix = undefined;
  await Promise.all(milters.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await worker?.stop();
  await Promise.all([redis?.stop(), clamd?.stop()]);
});

/** `hookgate milter` on a free port with these `milter.*` settings (log level info: the summary lines are warn). */
async function milter(settings: string): Promise<{ p: HookgateProcess; port: number }> {
  const port = await freePort();
  const p = await startHookgate(
    ['milter'],
    {
      HOOKGATE_CONFIG: config(settings),
      HOOKGATE_REDIS_URL: redis.url,
      HOOKGATE_CLAMD: clamd.tcp,
      HOOKGATE_METRICS_LISTEN: '127.0.0.1:0',
      HOOKGATE_MILTER_LISTEN: `127.0.0.1:${port}`,
    },
    /milter listening on \S+/,
  );
  milters.push(p);
  return { p, port };
}

/**
 * Opens the 2,000 sockets, and one more: once the listener holds 2,000, that one can only get in by closing the
 * oldest (its first close proves the listener full, whatever else the process has open).
 */
async function attack(port: number, reconnect: boolean): Promise<SlowAttack> {
  const a = slowAttack({ port, sockets: IDLE + 1, kind: 'idle', reconnect });
  attacks.push(a);
  await a.opening(IDLE + 1);
  await expect.poll(() => a.closedByServer, { timeout: 30_000 }).toBeGreaterThanOrEqual(1);
  return a;
}

/** One whole milter session as Postfix runs it, left open: clean mail gets the scanned header, EICAR the 550. */
async function realSession(port: number, i: number): Promise<string> {
  const c = await MilterClient.open({ port });
  clients.push(c);
  await c.negotiate();
  c.macros('C', { j: 'mx.test.invalid', '{daemon_addr}': '127.0.0.1', '{daemon_port}': '25' });
  const steps = [
    await c.connect('client.example.org', `192.0.2.${(i % 250) + 1}`, 40000 + i),
    await c.helo('client.example.org'),
    await c.mail('alice@example.org'),
    await c.rcpt('bob@example.net'),
  ];
  expect(steps.map(show)).toEqual([['c:'], ['c:'], ['c:'], ['c:']]);
  const end = show(
    await c.message(toEml(i % 4 === 3 ? eicarInline() : clean({ subject: `milter abuse ${i}` }))),
  );
  // The connection stays open, as Postfix keeps one per SMTP session: each session holds its own place.
  return end.at(-1)!.startsWith('y:550 5.7.1 Virus found') ? 'reject' : end.join(' ');
}

const SCANNED = 'h:X-Virus-Scanned| hookgate (ClamAV) a:';
const expected = (n: number) => Array.from({ length: n }, (_, i) => (i % 4 === 3 ? 'reject' : SCANNED));

describe('2,000 idle connections that never negotiate', () => {
  it('real sessions are admitted at maxConnections by closing the oldest idle sockets', async () => {
    // Idle sockets stay for the whole test unless room is needed: the OPTNEG timeout is out of the way.
    const { p, port } = await milter('negotiationTimeoutMs: 300000');
    // The listener holds 2,000 of them: milter.maxConnections (2,000) is full.
    const idle = await attack(port, false);
    const results: string[] = [];
    for (let i = 0; i < 20; i++) results.push(await realSession(port, i));
    expect(results).toEqual(expected(20));
    // Each session (left open) took the place of one idle socket: 2,001 + 20 accepted, 2,000 held.
    await expect.poll(() => idle.closedByServer).toBe(21);
    expect(idle.open).toBe(IDLE + 1 - 21);
    await expect
      .poll(() => p.stdout(), { timeout: 15_000 })
      .toMatch(/"evictedUnnegotiated":\d+.*milter connections closed or refused by limits/);
  });

  it('the same 2,000 sockets reopened as fast as they are closed: sessions are still served', async () => {
    const { port } = await milter('negotiationTimeoutMs: 300000');
    // Every socket closed to make room comes back at once and closes another: the listener churns throughout.
    const flood = await attack(port, true);
    const results = await Promise.all(
      Array.from({ length: 4 }, async (_, k) => {
        const mine: string[] = [];
        for (let i = k; i < 20; i += 4) mine.push(await realSession(port, i));
        return mine;
      }),
    );
    expect(results.flat().sort()).toEqual(expected(20).sort());
    expect(flood.closedByServer).toBeGreaterThanOrEqual(20);
    expect(flood.opened).toBeGreaterThan(IDLE + 20);
  });

  it('milter.negotiationTimeoutMs empties the listener of them; sessions go on', async () => {
    const { port } = await milter('negotiationTimeoutMs: 1000');
    const idle = slowAttack({ port, sockets: IDLE, kind: 'idle', reconnect: false });
    attacks.push(idle);
    await idle.opening(IDLE);
    // Timers of one second from each accept: all gone within seconds (the bound leaves room for a loaded machine;
    // without the timeout they would stay for idleTimeoutMs, 15 minutes).
    await expect.poll(() => idle.open, { timeout: 20_000 }).toBe(0);
    expect(idle.closedByServer).toBe(IDLE);
    expect(await realSession(port, 0)).toBe(SCANNED);
  });

  it('Postfix 3.7 sessions through hookgate milter are served while 2,000 idle sockets fill it', async () => {
    const { port } = await milter('negotiationTimeoutMs: 300000');
    postfix = await startPostfix({ listeners: [{ name: 'main', milters: `inet:127.0.0.1:${port}` }] });
    const idle = await attack(port, false);
    const before = idle.closedByServer;
    const mark = `ABUSE-MILTER-${process.pid}`;
    const virus = await swaks({
      port: postfix.ports.main!,
      from: 'alice@example.org',
      to: ['bob@example.net'],
      message: toEml(eicarInline()),
    });
    expect(virus.replies).toContainEqual(expect.stringMatching(/^550 5\.7\.1 Virus found: Test\.EICAR/));
    const ok = await swaks({
      port: postfix.ports.main!,
      from: 'alice@example.org',
      to: ['bob@example.net'],
      message: `${toEml(clean())}${mark}\r\n`,
    });
    expect(ok.replies).toContainEqual(expect.stringMatching(/^250 2\.0\.0 Ok: queued/));
    const delivered = await postfix.waitForDelivery((c) => c.includes(mark));
    expect(delivered.content).toMatch(/X-Virus-Scanned: hookgate \(ClamAV\)/);
    expect(postfix.maillog()).not.toMatch(/warning: milter inet:/);
    // Postfix's connection (one per SMTP session, closed at its end) took the place of an idle socket.
    expect(idle.closedByServer - before).toBeGreaterThanOrEqual(1);
  });
});
