/**
 * A private clamav-milter (Debian package clamav-milter): what an operator runs instead of hookgate when all they
 * want is ClamAV in front of Postfix. Its own config file, pid, log and temp files in one temp dir, the milter on a
 * free loopback port, scanning through a clamd's TCP socket. Runs in the foreground as this process's child.
 * As root it keeps root (no `User` line), so it needs no dir writable by the clamav user.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { acceptsConnection, freePort, requireBinary, stopChild, tempDir, waitUntil } from './daemons.js';

export interface ClamavMilter {
  /** For Postfix's `smtpd_milters`, e.g. `inet:127.0.0.1:40123`. */
  spec: string;
  port: number;
  pid: number;
  /** clamav-milter's own log (one line per infected message; never content). */
  log(): string;
  stop(): Promise<void>;
}

export interface ClamavMilterOptions {
  /** TCP port of the clamd on 127.0.0.1 it scans with. */
  clamdPort: number;
  readyTimeoutMs?: number;
}

export async function startClamavMilter(o: ClamavMilterOptions): Promise<ClamavMilter> {
  requireBinary('clamav-milter', 'clamav-milter');
  const dir = tempDir('clamav-milter');
  const port = await freePort();
  const logFile = join(dir, 'clamav-milter.log');
  const conf = join(dir, 'clamav-milter.conf');
  writeFileSync(
    conf,
    [
      `MilterSocket inet:${port}@127.0.0.1`,
      `ClamdSocket tcp:127.0.0.1:${o.clamdPort}`,
      'Foreground yes',
      `PidFile ${join(dir, 'clamav-milter.pid')}`,
      `TemporaryDirectory ${dir}`,
      `LogFile ${logFile}`,
      'LogInfected Basic',
      'OnClean Accept',
      'OnInfected Reject',
      'OnFail Defer',
      'AddHeader Replace',
      'RejectMsg Virus found: %v',
      '',
    ].join('\n'),
  );
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const child: ChildProcess = spawn('clamav-milter', ['-c', conf], { stdio: 'ignore' });
  const cleanup = async () => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(
            `clamav-milter exited (${child.exitCode ?? child.signalCode}):\n${log().slice(-2000)}`,
          );
        return acceptsConnection(port);
      },
      o.readyTimeoutMs ?? 20_000,
      'clamav-milter',
    );
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { spec: `inet:127.0.0.1:${port}`, port, pid: child.pid!, log, stop: cleanup };
}
