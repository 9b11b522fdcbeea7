/**
 * A minimal SMTP client for load: one message per connection (EHLO, MAIL, RCPT…, DATA, QUIT), no TLS, no
 * pipelining. Fails with the server's reply when a step is refused, so a benchmark counts it as an error.
 */
import { connect, type Socket } from 'node:net';

export interface SmtpSend {
  port: number;
  host?: string;
  from: string;
  to: string[];
  /** The whole message; dot-stuffed and terminated here. */
  message: string | Buffer;
  helo?: string;
  timeoutMs?: number;
}

/** Resolves with the reply to DATA's end (e.g. `250 2.0.0 Ok: queued as …`); rejects on any refusal. */
export function sendMail(o: SmtpSend): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock: Socket = connect({ host: o.host ?? '127.0.0.1', port: o.port });
    sock.setNoDelay(true);
    sock.setTimeout(o.timeoutMs ?? 60_000, () => fail(new Error('SMTP timeout')));
    let buf = '';
    let done = false;
    const waiting: ((reply: string) => void)[] = [];
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      sock.destroy();
      reject(err);
    };
    sock.on('error', (err) => fail(err));
    sock.on('close', () => fail(new Error('connection closed')));
    sock.on('data', (b) => {
      buf += b.toString('latin1');
      // A complete reply ends with a line whose 4th character is a space.
      for (;;) {
        const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(buf);
        if (!m) break;
        buf = buf.slice(m[0].length);
        waiting.shift()?.(m[0].trimEnd());
      }
    });
    const reply = () => new Promise<string>((r) => waiting.push(r));
    const step = async (line: string | Buffer | undefined, want: RegExp): Promise<string> => {
      const p = reply();
      if (line !== undefined) sock.write(line);
      const r = await p;
      if (!want.test(r))
        throw new Error(`SMTP: ${typeof line === 'string' ? line.trim() : 'data'} → ${r.split('\n').pop()}`);
      return r;
    };
    void (async () => {
      await step(undefined, /^220/);
      await step(`EHLO ${o.helo ?? 'load.test.invalid'}\r\n`, /^250/);
      await step(`MAIL FROM:<${o.from}>\r\n`, /^250/);
      for (const rcpt of o.to) await step(`RCPT TO:<${rcpt}>\r\n`, /^250/);
      await step('DATA\r\n', /^354/);
      const text = Buffer.isBuffer(o.message) ? o.message.toString('latin1') : o.message;
      const body = text.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
      const final = await step(
        Buffer.from(`${body}${body.endsWith('\r\n') ? '' : '\r\n'}.\r\n`, 'latin1'),
        /^250/,
      );
      done = true;
      sock.end('QUIT\r\n');
      resolve(final);
    })().catch((err: unknown) => fail(err instanceof Error ? err : new Error(String(err))));
  });
}
