/**
 * Postfix's `smtp-source` load generator (ships with the postfix package): parallel SMTP sessions, one message
 * per connection, a small C program that leaves the box's CPU to the servers under test. `-F` sends a real
 * message file, so the engines see mail rather than smtp-source's generated filler.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireBinary } from './daemons.js';

export interface SmtpSourceOptions {
  port: number;
  /** Parallel SMTP sessions (`-s`). */
  sessions: number;
  /** Messages in all (`-m`). */
  messages: number;
  /** A message file written by `messageFile()`. */
  file: string;
  from?: string;
  to?: string;
  /** HELO name (`-M`). */
  helo?: string;
}

export interface SmtpSourceRun {
  /** From spawn to exit, ms. */
  elapsedMs: number;
  code: number | null;
  /** Its stderr/stdout: warnings name each refused message. */
  output: string;
}

/**
 * Writes `message` (CRLF or LF) where smtp-source can read it: LF line ends, since `-F` appends CRLF to every line
 * (a CR left in the file would go out as a stray CR before each line end).
 */
export function messageFile(dir: string, message: string): string {
  const file = join(dir, 'message.eml');
  writeFileSync(file, message.replace(/\r\n/g, '\n'));
  return file;
}

export function smtpSource(o: SmtpSourceOptions): Promise<SmtpSourceRun> {
  requireBinary('smtp-source', 'postfix');
  const args = [
    '-s',
    String(o.sessions),
    '-m',
    String(o.messages),
    '-F',
    o.file,
    '-f',
    o.from ?? 'alice@example.org',
    '-t',
    o.to ?? 'bob@example.net',
    '-M',
    o.helo ?? 'load.test.invalid',
    `127.0.0.1:${o.port}`,
  ];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('smtp-source', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b) => (output += String(b)));
    child.stderr.on('data', (b) => (output += String(b)));
    child.once('error', reject);
    child.once('close', (code) => resolve({ elapsedMs: performance.now() - t0, code, output }));
  });
}
