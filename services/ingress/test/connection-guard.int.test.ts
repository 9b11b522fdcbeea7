/**
 * ConnectionGuard on a real node:http server and real sockets, with a hand-driven clock: which connection makes
 * room for a newcomer, and what the sweep closes (issue 11). Node's own timeouts are off here, so only the guard acts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import {
  ConnectionGuard,
  connectionBudget,
  openFileLimit,
  resolveConnectionLimits,
  type ConnectionLimits,
} from '../src/index.js';

const quiet = { warn() {}, error() {} };
const LIMITS: ConnectionLimits = {
  maxConnections: 10,
  headersTimeoutMs: 5000,
  requestTimeoutMs: 60_000,
  bodyTimeoutMs: 2000,
  minBodyBytesPerSec: 1000,
  keepAliveTimeoutMs: 30_000,
  lingerMs: 2000,
};

let server: Server | undefined;
const clients: Socket[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

interface Harness {
  guard: ConnectionGuard;
  port: number;
  clock: { now: number };
  /** Responses held open by the handler (path /hold). */
  held: ServerResponse[];
  /** Body bytes the handler has read, by path. */
  received: Record<string, number>;
  /** The server's side of each connection, in accept order. */
  accepted: Socket[];
}

/**
 * Routes: /trusted and /public answer at once (keep-alive; /trusted marks the connection trusted, as the app does
 * after authentication); /hold never answers; /early answers before reading the body, as a 401 or 413 does.
 */
async function harness(limits: Partial<ConnectionLimits> = {}): Promise<Harness> {
  const clock = { now: 1_000_000 };
  const held: ServerResponse[] = [];
  const received: Record<string, number> = {};
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/trusted') guard.trust(req.socket);
    if (req.url === '/hold') return void held.push(res);
    if (req.url === '/early') {
      guard.lingerAfterResponse(req.socket);
      res.writeHead(413, { connection: 'close', 'content-length': '0' }).end();
      return;
    }
    req.on('data', (b: Buffer) => (received[req.url!] = (received[req.url!] ?? 0) + b.length));
    req.on('end', () => res.end('ok'));
  });
  // The request handler above runs only once the server listens, after this.
  const guard = new ConnectionGuard(server, { ...LIMITS, ...limits }, quiet, () => clock.now);
  const accepted: Socket[] = [];
  server.on('connection', (s: Socket) => accepted.push(s));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return { guard, port: typeof addr === 'object' && addr ? addr.port : 0, clock, held, received, accepted };
}

interface Client {
  socket: Socket;
  name: string;
  text(): string;
  /** The server closed (or began closing) the connection: its FIN or a reset arrived. */
  closed: boolean;
}

function open(port: number, name: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    // Half-open allowed: a server's FIN does not make the client close (a lingering connection stays lingering).
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    clients.push(socket);
    let text = '';
    const c: Client = { socket, name, text: () => text, closed: false };
    socket.on('data', (b: Buffer) => (text += b.toString('latin1')));
    socket.on('end', () => (c.closed = true));
    socket.on('close', () => (c.closed = true));
    socket.once('connect', () => {
      socket.on('error', () => undefined);
      resolve(c);
    });
    socket.once('error', reject);
  });
}

/** Sends a request and waits for its status line. */
async function request(c: Client, path: string, head = ''): Promise<void> {
  c.socket.write(
    `${path === '/early' || path === '/hold' ? 'POST' : 'GET'} ${path} HTTP/1.1\r\nHost: t\r\n${head}\r\n`,
  );
  if (path === '/hold') return;
  await expect.poll(() => c.text(), { timeout: 5000 }).toMatch(/^HTTP\/1\.1 \d{3}/);
}

/** Waits until the server has seen `n` connections in total (open or closed). */
async function accepted(h: Harness, n: number): Promise<void> {
  await expect
    .poll(() => h.guard.stats.open + h.guard.stats.evicted + h.guard.stats.headerTimeouts, { timeout: 5000 })
    .toBeGreaterThanOrEqual(n);
}

describe('open-file limit', () => {
  it('reads the soft limit from /proc/self/limits text; unlimited or missing is unknown', () => {
    const text =
      'Limit                     Soft Limit           Hard Limit           Units\nMax open files            256                  4096                 files\n';
    expect(openFileLimit(text)).toBe(256);
    expect(openFileLimit(text.replace('256 ', 'unlimited '))).toBeUndefined();
    expect(openFileLimit('Max processes 100 100 processes\n')).toBeUndefined();
    // This process (Linux): whatever `ulimit -n` says.
    expect(openFileLimit()).toBeGreaterThan(0);
  });

  it('keeps at least 64 descriptors or 20% back from connections', () => {
    expect([64, 256, 1024, 20_000].map(connectionBudget)).toEqual([16, 192, 819, 16_000]);
    expect(resolveConnectionLimits({}, 1024)).toMatchObject({
      maxConnections: 819,
      fileLimit: 1024,
      headersTimeoutMs: 10_000,
      lingerMs: 2000,
    });
    expect(resolveConnectionLimits({ maxConnections: 'auto' }, undefined).maxConnections).toBe(819);
    expect(resolveConnectionLimits({ maxConnections: 50 }, 1024).maxConnections).toBe(50);
  });
});

/** An authenticated and an unauthenticated idle keep-alive connection, and one with a request in progress. */
async function keepAliveAndBusy(h: Harness): Promise<{ trusted: Client; pub: Client; busy: Client }> {
  const trusted = await open(h.port, 'trusted');
  await request(trusted, '/trusted');
  const pub = await open(h.port, 'public');
  await request(pub, '/public');
  const busy = await open(h.port, 'busy');
  await request(busy, '/hold');
  await expect.poll(() => h.held.length).toBe(1);
  return { trusted, pub, busy };
}

describe('room for newcomers near maxConnections', () => {
  it('closes lingering, then never-used, then unauthenticated idle, then authenticated idle connections, oldest first; never a request in progress', async () => {
    const h = await harness();
    const { trusted, pub, busy } = await keepAliveAndBusy(h);
    const lingering = await open(h.port, 'lingering');
    await request(lingering, '/early', 'Content-Length: 100000\r\n');
    const fresh: Client[] = [];
    for (let i = 0; i < 5; i++) {
      fresh.push(await open(h.port, `fresh${i}`));
      await accepted(h, 5 + i);
    }
    // Nine open: at the pressure mark (90% of 10). Each newcomer now closes one.
    await expect
      .poll(() => h.guard.stats)
      .toMatchObject({ open: 9, lingering: 1, idle: 2, active: 1, fresh: 5 });
    const order: string[] = [];
    const everyone = [trusted, pub, busy, lingering, ...fresh];
    const newcomers: Client[] = [];
    for (let i = 0; i < 9; i++) {
      newcomers.push(await open(h.port, `new${i}`));
      await expect
        .poll(() => [...everyone, ...newcomers].filter((c) => c.closed).length, { timeout: 5000 })
        .toBe(i + 1);
      order.push(
        ...[...everyone, ...newcomers].filter((c) => c.closed && !order.includes(c.name)).map((c) => c.name),
      );
    }
    expect(order).toEqual([
      'lingering',
      'fresh0',
      'fresh1',
      'fresh2',
      'fresh3',
      'fresh4',
      'new0',
      'new1',
      'new2',
    ]);
    // Still open: the request in progress and both keep-alive connections (fresh newcomers went first).
    expect([busy, pub, trusted].map((c) => c.closed)).toEqual([false, false, false]);
    expect(h.guard.stats.evicted).toBe(9);
  });

  it('takes idle keep-alive connections when nothing else is left, unauthenticated before authenticated', async () => {
    const h = await harness({ maxConnections: 4 });
    // Pressure mark: 3 of 4.
    const { trusted, pub, busy } = await keepAliveAndBusy(h);
    const a = await open(h.port, 'a');
    await request(a, '/hold');
    await expect.poll(() => pub.closed).toBe(true);
    await expect.poll(() => h.held.length).toBe(2);
    const b = await open(h.port, 'b');
    await request(b, '/hold');
    await expect.poll(() => trusted.closed).toBe(true);
    await expect.poll(() => h.held.length).toBe(3);
    expect([busy, a, b].map((c) => c.closed)).toEqual([false, false, false]);
  });
});

describe('sweep', () => {
  it('closes a connection without complete headers after headersTimeoutMs from accept', async () => {
    const h = await harness();
    const silent = await open(h.port, 'silent');
    const partial = await open(h.port, 'partial');
    partial.socket.write('GET / HTTP/1.1\r\nHo');
    await accepted(h, 2);
    h.clock.now += 4000;
    const late = await open(h.port, 'late');
    await accepted(h, 3);
    h.clock.now += 1001;
    h.guard.sweep();
    await expect.poll(() => [silent.closed, partial.closed]).toEqual([true, true]);
    expect(late.closed).toBe(false);
    expect(h.guard.stats.headerTimeouts).toBe(2);
  });

  it('answers 408 and closes a body slower than minBodyBytesPerSec after bodyTimeoutMs; a faster one goes on', async () => {
    const h = await harness();
    const slow = await open(h.port, 'slow');
    const fast = await open(h.port, 'fast');
    for (const c of [slow, fast])
      c.socket.write(`POST /body-${c.name} HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n`);
    await expect.poll(() => h.guard.stats.active).toBe(2);
    slow.socket.write('x'.repeat(100));
    fast.socket.write('x'.repeat(3000));
    await expect.poll(() => [h.received['/body-slow'], h.received['/body-fast']]).toEqual([100, 3000]);
    // Allowed: 2,000 ms plus 1 s per 1,000 bytes: 2,100 ms for slow, 5,000 ms for fast.
    h.clock.now += 2101;
    h.guard.sweep();
    await expect.poll(() => slow.closed).toBe(true);
    expect(slow.text()).toMatch(/^HTTP\/1\.1 408 /);
    expect(fast.closed).toBe(false);
    expect(h.guard.stats.slowBodies).toBe(1);
  });

  it('after an early answer: FIN at once, the rest of the body drained, closed when the client closes or after lingerMs', async () => {
    const h = await harness();
    const polite = await open(h.port, 'polite');
    const stubborn = await open(h.port, 'stubborn');
    let politeEnded = false;
    polite.socket.on('end', () => {
      politeEnded = true;
      polite.socket.end();
    });
    let stubbornError = '';
    stubborn.socket.on('error', (e: NodeJS.ErrnoException) => (stubbornError = e.code ?? ''));
    const gone = new Promise<void>((r) => stubborn.socket.once('close', () => r()));
    await request(polite, '/early', 'Content-Length: 100000\r\n');
    await request(stubborn, '/early', 'Content-Length: 100000\r\n');
    await expect.poll(() => politeEnded).toBe(true);
    await expect.poll(() => h.guard.stats.lingering).toBe(1);
    // The stubborn client keeps writing after the FIN: drained, no reset, until lingerMs.
    stubborn.socket.write('x'.repeat(50_000));
    await expect.poll(() => h.accepted[1]!.bytesRead).toBeGreaterThan(50_000);
    expect(stubbornError).toBe('');
    h.clock.now += 2001;
    h.guard.sweep();
    // Now gone: the next write is answered by a reset.
    await expect
      .poll(() => {
        if (!stubborn.socket.destroyed) stubborn.socket.write('x');
        return stubborn.socket.destroyed;
      })
      .toBe(true);
    await gone;
    expect(h.guard.stats.lingerTimeouts).toBe(1);
  });
});
