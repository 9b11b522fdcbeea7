/**
 * A private redis-server child for the all-in-one quick start: started on a free loopback port when no Redis is
 * configured, installed from Debian's packages if missing, stopped on exit. Never used when redis.* is set.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EmbeddedRedis {
  url: string;
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

function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

function installRedis(log: (msg: string) => void): void {
  log('redis-server not found: installing the Debian package redis-server');
  const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
  const run = (args: string[]) => {
    const cmd = [...sudo, ...args];
    const r = spawnSync(cmd[0]!, cmd.slice(1), {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (r.status !== 0)
      throw new Error(`"${cmd.join(' ')}" failed; install redis-server or set HOOKGATE_REDIS_URL`);
  };
  run(['apt-get', 'update', '-qq']);
  run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'redis-server']);
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port }, () => sock.write('PING\r\n'));
    sock.setTimeout(500, () => sock.destroy());
    sock.once('data', (b) => {
      sock.destroy();
      resolve(b.toString().startsWith('+PONG'));
    });
    sock.once('error', () => resolve(false));
    sock.once('close', () => resolve(false));
  });
}

export async function startEmbeddedRedis(log: (msg: string) => void): Promise<EmbeddedRedis> {
  if (!hasRedisServer()) installRedis(log);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'hookgate-redis-'));
  const child: ChildProcess = spawn(
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
      '--maxmemory-policy',
      'noeviction',
      '--loglevel',
      'warning',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    if (await answersPing(port)) break;
    if (Date.now() - started > 10_000) throw new Error('redis-server did not become ready in 10 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  let stopped: Promise<void> | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null) resolve();
        else {
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }
      }).then(() => rmSync(dir, { recursive: true, force: true }));
      return stopped;
    },
  };
}
