/**
 * A private SpamAssassin spamd for tests: Debian-shipped rules (`--configpath=/usr/share/spamassassin`), a site
 * config dir of our own (Debian's *.pre plugin lists + test/fixtures/spamassassin/local.cf: no DNS, no bayes,
 * no razor/pyzor/dcc), on a free loopback port, two children at most (the machine has 2 cores and SpamAssassin is
 * CPU-bound). Runs in the foreground as this process's child; the pidfile is kept for operators poking at it.
 */
import { repoRoot } from './processes.js';
import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  closeSync,
  copyFileSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import { freePort, requireBinary, talk, tempDir, waitUntil, stopChild } from './daemons.js';
import { startDnsStub } from './dns-stub.js';

const LOCAL_CF = join(repoRoot(), 'test/fixtures/spamassassin/local.cf');
const SPAMD_USER = 'debian-spamd';
const SITE_PRE = '/etc/spamassassin';

export interface SpamdDaemon {
  /** `tcp://127.0.0.1:port` */
  endpoint: string;
  port: number;
  /** The Unix socket spamd also listens on. */
  socket: string;
  /** spamd's log file (`--syslog=<file>`). */
  logFile: string;
  /** Milliseconds from spawn to `PING` answered with `PONG`. */
  startMs: number;
  stop(): Promise<void>;
}

function userExists(name: string): boolean {
  return spawnSync('id', ['-u', name], { stdio: 'ignore' }).status === 0;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Starts a private spamd; resolves once `PING SPAMC/1.5` is answered with `PONG`. */
export async function startSpamd(
  options: { maxChildren?: number; readyTimeoutMs?: number } = {},
): Promise<SpamdDaemon> {
  requireBinary('spamd', 'spamd');
  const dns = await startDnsStub();
  const port = await freePort();
  const dir = tempDir('spamd');
  const etc = join(dir, 'etc');
  const home = join(dir, 'home');
  mkdirSync(etc);
  mkdirSync(home);
  // Debian's plugin lists, minus sa-compile.pre (the sa-compile package would switch compiled rules on).
  for (const f of readdirSync(SITE_PRE)) {
    if (f.endsWith('.pre') && f !== 'sa-compile.pre') copyFileSync(join(SITE_PRE, f), join(etc, f));
  }
  copyFileSync(LOCAL_CF, join(etc, 'local.cf'));
  // Should anything still resolve despite dns_available no, it goes to the loopback stub.
  appendFileSync(join(etc, 'local.cf'), `\ndns_server ${dns.address}\n`);
  chmodSync(dir, 0o755);
  const asRoot = process.getuid?.() === 0 && userExists(SPAMD_USER);
  if (asRoot) spawnSync('chown', ['-R', `${SPAMD_USER}:${SPAMD_USER}`, home]);

  const logFile = join(dir, 'spamd.log');
  const socket = join(dir, 'spamd.sock');
  const stdoutFile = join(dir, 'spamd.stdout');
  const out = openSync(stdoutFile, 'a');
  const args = [
    `--pidfile=${join(dir, 'spamd.pid')}`,
    `--listen=127.0.0.1:${port}`,
    `--listen=${socket}`,
    '--socketmode=0666',
    '--allowed-ips=127.0.0.1',
    '--local',
    '--nouser-config',
    ...(asRoot ? [`--username=${SPAMD_USER}`, `--groupname=${SPAMD_USER}`] : []),
    `--helper-home-dir=${home}`,
    '--configpath=/usr/share/spamassassin',
    `--siteconfigpath=${etc}`,
    `--max-children=${options.maxChildren ?? 2}`,
    `--syslog=${logFile}`,
  ];
  const started = Date.now();
  const child = spawn('spamd', args, { stdio: ['ignore', out, out] });
  closeSync(out);
  const onExit = () => child.kill('SIGTERM');
  process.once('exit', onExit);
  const cleanup = async () => {
    process.removeListener('exit', onExit);
    await stopChild(child);
    await dns.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(
            `spamd exited (${child.exitCode ?? child.signalCode}):\n${readText(stdoutFile)}\n${readText(logFile).slice(-2000)}`,
          );
        }
        return /PONG/.test(await talk({ port }, 'PING SPAMC/1.5\r\n\r\n', /PONG/));
      },
      options.readyTimeoutMs ?? 30_000,
      'spamd',
    );
  } catch (err) {
    await cleanup();
    throw err;
  }
  return {
    endpoint: `tcp://127.0.0.1:${port}`,
    port,
    socket,
    logFile,
    startMs: Date.now() - started,
    stop: cleanup,
  };
}
