/**
 * swaks, the SMTP test client, run asynchronously (a blocking spawn would stall an in-process milter). Resolves
 * with its exit code and transcript; `replies` are the server's lines (`<-` and `<**`) for assertions.
 */
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireBinary, tempDir } from './daemons.js';

export interface SwaksOptions {
  port: number;
  from: string;
  to: string[];
  /** The whole message (headers, blank line, body); CRLF or LF. */
  message?: string;
  /** Stop after this SMTP step (e.g. `RCPT`): no message is sent. */
  quitAfter?: 'CONNECT' | 'HELO' | 'MAIL' | 'RCPT' | 'DATA';
  helo?: string;
  timeoutSec?: number;
}

export interface SwaksResult {
  code: number | null;
  transcript: string;
  /** Server reply lines, without the direction marker. */
  replies: string[];
}

export function swaks(o: SwaksOptions): Promise<SwaksResult> {
  requireBinary('swaks', 'swaks');
  const args = [
    '--server',
    `127.0.0.1:${o.port}`,
    '--from',
    o.from,
    '--to',
    o.to.join(','),
    '--helo',
    o.helo ?? 'client.test.invalid',
    '--timeout',
    String(o.timeoutSec ?? 60),
  ];
  // The message goes through a file of its own, removed when swaks is done.
  const dir = o.message !== undefined ? tempDir('swaks') : undefined;
  if (dir) {
    const file = join(dir, 'message.eml');
    writeFileSync(file, o.message!);
    args.push('--data', `@${file}`);
  }
  if (o.quitAfter) args.push('--quit-after', o.quitAfter);
  return new Promise((resolve) => {
    const child = spawn('swaks', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => (out += String(b)));
    child.stderr.on('data', (b) => (out += String(b)));
    child.on('close', (code) => {
      if (dir) rmSync(dir, { recursive: true, force: true });
      const replies = out
        .split('\n')
        .filter((l) => /^<(\*\*|-) /.test(l))
        .map((l) => l.replace(/^<(\*\*|-) +/, '').trimEnd());
      resolve({ code, transcript: out, replies });
    });
  });
}
