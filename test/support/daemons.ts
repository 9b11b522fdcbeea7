/**
 * Private daemon instances for tests: each on a free loopback port (or socket) in its own temp dir, stopped by the
 * returned `stop()`. Tests never use the machine's shared services.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, existsSync, readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { EICAR } from './samples.js';

export interface Daemon {
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `hookgate-test-${name}-`));
}

/** Polls `probe` every 25 ms until it resolves true, failing after `timeoutMs` (readiness, not timing). */
export async function waitUntil(
  probe: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > until) throw new Error(`${what} not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Sends `payload` and resolves with everything read until the peer closes or `until` matches. */
export function talk(
  target: { port: number } | { path: string },
  payload: string | Buffer,
  until?: RegExp,
): Promise<string> {
  return new Promise((resolve) => {
    const sock: Socket =
      'port' in target ? connect({ host: '127.0.0.1', port: target.port }) : connect({ path: target.path });
    let out = '';
    sock.setTimeout(2000, () => sock.destroy());
    sock.on('connect', () => sock.write(payload));
    sock.on('data', (b) => {
      out += b.toString('latin1');
      if (until?.test(out)) sock.destroy();
    });
    sock.on('error', () => undefined);
    sock.on('close', () => resolve(out));
  });
}

/** Whether something accepts a TCP connection on this loopback port (readiness of a daemon that has no ping). */
export function acceptsConnection(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/** SIGTERM, then SIGKILL if the process has not exited after `timeoutMs`. */
export function stopChild(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Whether a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function stopPid(pidFile: string): Promise<void> {
  if (!existsSync(pidFile)) return Promise.resolve();
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return Promise.resolve();
  }
  return waitUntil(() => !alive(pid), 10_000, `pid ${pid} exit`);
}

export function requireBinary(name: string, pkg: string): void {
  if (spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status !== 0) {
    throw new Error(
      `${name} is not installed: run "npm test" (it installs the Debian package ${pkg}) or apt-get install ${pkg}`,
    );
  }
}

export interface RedisDaemon extends Daemon {
  url: string;
  port: number;
  /** The server's pid (changes across `restart()`). */
  readonly pid: number;
  /** Stops the server (keeping its data dir) so a test can observe an outage; `restart()` brings it back. */
  pause(): Promise<void>;
  restart(): Promise<void>;
  /** Sends a signal to the server (SIGSTOP/SIGCONT: a stall with connections kept open). */
  signal(sig: NodeJS.Signals): void;
}

export async function startRedis(extraArgs: string[] = []): Promise<RedisDaemon> {
  requireBinary('redis-server', 'redis-server');
  const port = await freePort();
  const dir = tempDir('redis');
  let child: ChildProcess;
  const launch = async () => {
    child = spawn(
      'redis-server',
      [
        '--bind',
        '127.0.0.1',
        '--port',
        String(port),
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--loglevel',
        'warning',
        ...extraArgs,
      ],
      { stdio: 'ignore' },
    );
    await waitUntil(
      async () => (await talk({ port }, 'PING\r\n', /\r\n/)).startsWith('+PONG'),
      10_000,
      'redis-server',
    );
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return child.pid!;
    },
    pause: () => stopChild(child),
    restart: launch,
    signal: (sig) => void child.kill(sig),
    async stop() {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ClamdDaemon extends Daemon {
  /** tcp://127.0.0.1:port */
  tcp: string;
  port: number;
  socket: string;
  /** clamd's pid (it daemonizes: read from its pid file). */
  pid: number;
}

/**
 * clamd with a generated signature DB that detects the EICAR test string (no freshclam offline). Retried: the free
 * port can be taken by another test process between choosing it and clamd binding it.
 */
export async function startClamd(options: { streamMaxLength?: string } = {}): Promise<ClamdDaemon> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startClamdOnce(options);
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

async function startClamdOnce(options: { streamMaxLength?: string }): Promise<ClamdDaemon> {
  requireBinary('clamd', 'clamav-daemon');
  const port = await freePort();
  const dir = tempDir('clamd');
  const db = join(dir, 'db');
  mkdirSync(db);
  mkdirSync(join(dir, 'tmp'));
  const eicar = Buffer.from(EICAR, 'latin1');
  writeFileSync(join(db, 'test-eicar.ndb'), `Test.EICAR-Body:0:*:${eicar.toString('hex')}\n`);
  writeFileSync(
    join(db, 'test-eicar.hdb'),
    `${createHash('md5').update(eicar).digest('hex')}:${eicar.length}:Test.EICAR-MD5\n`,
  );
  const socket = join(dir, 'clamd.sock');
  const conf = join(dir, 'clamd.conf');
  writeFileSync(
    conf,
    [
      `DatabaseDirectory ${db}`,
      `TemporaryDirectory ${join(dir, 'tmp')}`,
      `LocalSocket ${socket}`,
      'LocalSocketMode 666',
      'FixStaleSocket yes',
      `TCPSocket ${port}`,
      'TCPAddr 127.0.0.1',
      `PidFile ${join(dir, 'clamd.pid')}`,
      `LogFile ${join(dir, 'clamd.log')}`,
      'Foreground no',
      'SelfCheck 0',
      'MaxThreads 10',
      'ScanMail yes',
      'ScanArchive yes',
      ...(options.streamMaxLength ? [`StreamMaxLength ${options.streamMaxLength}`] : []),
      '',
    ].join('\n'),
  );
  const r = spawnSync('clamd', ['-c', conf], { encoding: 'utf8' });
  if (r.status !== 0) {
    const log = existsSync(join(dir, 'clamd.log'))
      ? readFileSync(join(dir, 'clamd.log'), 'utf8').split('\n').slice(-5).join('\n')
      : '';
    rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `clamd failed to start (exit ${r.status}, signal ${r.signal}): ${r.stderr || r.stdout}\n${log}`,
    );
  }
  await waitUntil(async () => (await talk({ port }, 'zPING\0', /\0/)).startsWith('PONG'), 15_000, 'clamd');
  await waitUntil(
    () => existsSync(join(dir, 'clamd.pid')) && readFileSync(join(dir, 'clamd.pid'), 'utf8').trim() !== '',
    5_000,
    'clamd pid file',
  );
  return {
    tcp: `tcp://127.0.0.1:${port}`,
    port,
    socket,
    pid: Number(readFileSync(join(dir, 'clamd.pid'), 'utf8').trim()),
    async stop() {
      await stopPid(join(dir, 'clamd.pid'));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A TCP server that accepts connections and never answers: an engine slower than any deadline. */
export async function startTarpit(): Promise<Daemon & { endpoint: string; port: number }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    endpoint: `tcp://127.0.0.1:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
